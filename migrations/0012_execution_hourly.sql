-- Executions per tenant and UTC hour, kept by a trigger as rows arrive.
--
-- The dashboard's landing numbers (GET /v1/overview: executions, failures and cost over the
-- last 24 hours and today) otherwise scan a day of raw executions on every call: 20k rows a
-- day for one busy tenant is ~5 ms of database CPU per request, the most expensive read the
-- API served. With this rollup the overview sums at most 25 hourly rows and scans raw rows
-- only for the part of the oldest hour still inside the window.
--
-- Raw executions are insert-only (ingest is `on conflict do nothing`, the simulator COPYs),
-- so an AFTER INSERT statement trigger over the transition table counts each stored row
-- exactly once; a replayed batch inserts nothing and adds nothing.

-- no foreign key to tenants, like the raw tables it counts: logs outlive nothing they refer to
create table raw.execution_hourly (
    tenant_id uuid not null,
    hour timestamptz not null,
    executions bigint not null default 0,
    failures bigint not null default 0,
    cost_usd numeric(20, 8) not null default 0,
    primary key (tenant_id, hour)
);
select app.enable_tenant_rls('raw.execution_hourly');
grant select on raw.execution_hourly to meta_agent_app;

-- SECURITY DEFINER: the API's role inserts executions but is not allowed to write the
-- rollup; the rows counted have already passed its RLS checks on the way in.
create function app.count_executions_hourly() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into raw.execution_hourly as h (tenant_id, hour, executions, failures, cost_usd)
    select tenant_id,
           date_trunc('hour', started_at, 'UTC'),
           count(*),
           count(*) filter (where status in ('failure', 'timeout')),
           sum(cost_usd)
    from new_executions
    group by 1, 2
    -- concurrent batches of one tenant meet on the same hour's row; sorted keys mean two
    -- batches always lock their rows in the same order, so they wait instead of deadlocking
    order by 1, 2
    on conflict (tenant_id, hour) do update
    set executions = h.executions + excluded.executions,
        failures = h.failures + excluded.failures,
        cost_usd = h.cost_usd + excluded.cost_usd;
    return null;
end
$$;

create trigger executions_count_hourly
after insert on raw.executions
referencing new table as new_executions
for each statement
execute function app.count_executions_hourly();

-- what was stored before this migration
insert into raw.execution_hourly (tenant_id, hour, executions, failures, cost_usd)
select tenant_id,
       date_trunc('hour', started_at, 'UTC'),
       count(*),
       count(*) filter (where status in ('failure', 'timeout')),
       sum(cost_usd)
from raw.executions
group by 1, 2;
