{#
    Post-hook of every table dbt builds here: the treatment migration 0001 gives each
    tenant-owned table (`app.enable_tenant_rls`), made idempotent so it can run after every
    build: RLS enabled and forced, one `tenant_isolation` policy on the transaction's tenant,
    and (unless `grant_to_app` is false: intermediate tables are the pipeline's alone) usage
    on the schema and select for the API's role.

    Each step runs only when the catalog says it is missing: ALTER TABLE takes an exclusive
    lock, which an incremental run that changes nothing should not queue behind readers for.
    It runs inside the model's transaction, so a rebuilt table is never visible without its
    policy. The owner that runs dbt has BYPASSRLS: builds and tests see every tenant.
#}
{% macro enable_tenant_rls(
    relation=this, grant_to_app=true, app_role=var('app_role', 'meta_agent_app')
) %}
    {%- set table = relation.include(database=false) -%}
    do $rls$
    begin
        if not (
            select relrowsecurity and relforcerowsecurity from pg_class
            where oid = '{{ table }}'::regclass
        ) then
            alter table {{ table }} enable row level security;
            alter table {{ table }} force row level security;
        end if;
        if not exists (
            select from pg_policy
            where polrelid = '{{ table }}'::regclass and polname = 'tenant_isolation'
        ) then
            create policy tenant_isolation on {{ table }}
            -- a scalar subquery: evaluated once per statement, not per row (migration 0011)
            using (tenant_id = (select app.current_tenant_id()))
            with check (tenant_id = (select app.current_tenant_id()));
        end if;
        {%- if grant_to_app %}
        if not has_table_privilege('{{ app_role }}', '{{ table }}', 'select') then
            grant select on {{ table }} to {{ app_role }};
        end if;
        -- two marts built at once would both update the schema's ACL ("tuple concurrently
        -- updated"); the first grants, the second waits for its commit and finds it done
        if not has_schema_privilege('{{ app_role }}', '{{ relation.schema }}', 'usage') then
            perform pg_advisory_xact_lock(hashtext('grant usage on schema {{ relation.schema }}'));
            if not has_schema_privilege('{{ app_role }}', '{{ relation.schema }}', 'usage') then
                grant usage on schema {{ adapter.quote(relation.schema) }} to {{ app_role }};
            end if;
        end if;
        {%- endif %}
    end
    $rls$
{% endmacro %}
