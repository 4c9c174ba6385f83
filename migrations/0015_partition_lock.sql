-- Two transactions creating the same day's partition at once (concurrent ingest requests on a
-- day nobody has written yet) both saw it missing and the second failed with DuplicateTable.
-- A transaction-scoped advisory lock per parent makes them take turns: the second waits for
-- the first to commit, then finds the partition there.
create or replace function app.ensure_daily_partitions(parent regclass, first_day date, last_day date)
returns integer
language plpgsql
as $$
declare
    day date;
    part_name text;
    schema_name text;
    created integer := 0;
begin
    perform pg_advisory_xact_lock(hashtext('app.ensure_daily_partitions'), hashtext(parent::text));
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
revoke execute on function app.ensure_daily_partitions(regclass, date, date) from public;
