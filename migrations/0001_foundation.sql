-- Roles, schemas and the helpers every later migration uses for tenant isolation.
--
-- Runs as the owner role (the one in METAAGENT_DATABASE_URL). The owner has BYPASSRLS and
-- owns every object; `meta_agent_app` serves requests, owns nothing and never bypasses RLS.

create extension if not exists vector;

do $$
begin
    if not exists (select from pg_roles where rolname = 'meta_agent_app') then
        create role meta_agent_app login nosuperuser nocreatedb nocreaterole nobypassrls noinherit;
    end if;
end
$$;

-- A role that already existed may have been given more than it should. We can take away
-- CREATEROLE and BYPASSRLS ourselves; SUPERUSER and CREATEDB only a superuser can, so refuse.
alter role meta_agent_app nocreaterole nobypassrls;
do $$
begin
    if exists (
        select from pg_roles where rolname = 'meta_agent_app' and (rolsuper or rolcreatedb)
    ) then
        raise exception 'role meta_agent_app must not be SUPERUSER or CREATEDB: it serves requests under RLS';
    end if;
end
$$;

create schema if not exists app;
create schema if not exists raw;

grant usage on schema public, app, raw to meta_agent_app;

-- The tenant of the current transaction, or NULL when none is set. `nullif` because a
-- custom setting that was once set locally reads back as '' (not NULL) after the transaction.
create function app.current_tenant_id() returns uuid
language sql stable parallel safe
as $$ select nullif(current_setting('app.tenant_id', true), '')::uuid $$;

grant execute on function app.current_tenant_id() to meta_agent_app;

-- Every tenant-owned table gets the same treatment: RLS enabled and forced (forced so the
-- owner is bound too unless it has BYPASSRLS), one policy on the transaction's tenant.
create function app.enable_tenant_rls(target regclass) returns void
language plpgsql
as $$
begin
    execute format('alter table %s enable row level security', target);
    execute format('alter table %s force row level security', target);
    execute format(
        'create policy tenant_isolation on %s '
        'using (tenant_id = app.current_tenant_id()) '
        'with check (tenant_id = app.current_tenant_id())',
        target
    );
end
$$;

-- Raw logs are range-partitioned by UTC day. A partition is a table of its own that a client
-- could name directly, so it gets the same RLS as its parent; the app role gets no grant on
-- partitions at all and reads through the parent.
create function app.ensure_daily_partitions(parent regclass, first_day date, last_day date)
returns integer
language plpgsql
as $$
declare
    day date;
    part_name text;
    schema_name text;
    created integer := 0;
begin
    select n.nspname into schema_name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.oid = parent;
    day := first_day;
    while day <= last_day loop
        part_name := format('%s_%s', (select relname from pg_class where oid = parent), to_char(day, 'YYYYMMDD'));
        if to_regclass(format('%I.%I', schema_name, part_name)) is null then
            execute format(
                'create table %I.%I partition of %s for values from (%L) to (%L)',
                schema_name, part_name, parent,
                day::timestamp at time zone 'UTC', (day + 1)::timestamp at time zone 'UTC'
            );
            perform app.enable_tenant_rls(format('%I.%I', schema_name, part_name)::regclass);
            created := created + 1;
        end if;
        day := day + 1;
    end loop;
    return created;
end
$$;

-- Retention drops whole days instead of deleting rows.
create function app.drop_daily_partition(parent regclass, day date) returns boolean
language plpgsql
as $$
declare
    schema_name text;
    part regclass;
begin
    select n.nspname into schema_name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.oid = parent;
    part := to_regclass(format('%I.%I', schema_name,
        format('%s_%s', (select relname from pg_class where oid = parent), to_char(day, 'YYYYMMDD'))));
    if part is null then
        return false;
    end if;
    execute format('drop table %s', part);
    return true;
end
$$;

-- `updated_at` maintenance for mutable operational rows.
create function app.touch_updated_at() returns trigger
language plpgsql
as $$
begin
    new.updated_at := now();
    return new;
end
$$;

-- Only the owner maintains the schema; functions are executable by PUBLIC unless revoked.
revoke execute on function app.enable_tenant_rls(regclass) from public;
revoke execute on function app.ensure_daily_partitions(regclass, date, date) from public;
revoke execute on function app.drop_daily_partition(regclass, date) from public;
