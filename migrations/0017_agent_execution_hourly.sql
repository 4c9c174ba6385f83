-- Decided executions and failures per agent and UTC hour, kept by a trigger as rows arrive,
-- for the SLA burn-rate alerts (meta_agent/alerting/burn_series.py).
--
-- The slowest burn-rate rule looks back 3 days, and the worker evaluates every SLA every
-- minute: counting 3 days of a busy agent's raw rows each time would be the heaviest read the
-- realtime process makes. With this rollup a window sums at most 72 hourly rows per agent and
-- reads raw rows only for the partial hours at its two edges.
--
-- Like raw.execution_hourly (0012) it files an execution under the hour it started, and counts
-- `failure` and `timeout` as failures. Unlike it, it counts only decided executions (success,
-- failure, timeout), the denominator of the SLA success rate in the warehouse
-- (int_executions_enriched.is_decided): a running or cancelled execution neither spends nor
-- earns error budget.
--
-- Raw executions are insert-only (ingest is `on conflict do nothing`, the simulator COPYs), so
-- an AFTER INSERT statement trigger over the transition table counts each stored row exactly
-- once; a replayed batch inserts nothing and adds nothing.

-- no foreign key to agents, like the raw tables it counts: logs outlive nothing they refer to.
-- The key leads with the hour because every read is "all (or some) of a tenant's agents over
-- a time range"; the agent comes last so one tenant's rows for one hour sit together.
create table raw.agent_execution_hourly (
    tenant_id uuid not null,
    hour timestamptz not null,
    agent_id uuid not null,
    executions bigint not null default 0,
    failures bigint not null default 0,
    -- of every execution, decided or not: the budget alerts sum it
    cost_usd numeric(20, 8) not null default 0,
    primary key (tenant_id, hour, agent_id)
);
select app.enable_tenant_rls('raw.agent_execution_hourly');
grant select on raw.agent_execution_hourly to meta_agent_app;

-- SECURITY DEFINER: the API's role inserts executions but is not allowed to write the
-- rollup; the rows counted have already passed its RLS checks on the way in.
create function app.count_agent_executions_hourly() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into raw.agent_execution_hourly as h (
        tenant_id, hour, agent_id, executions, failures, cost_usd
    )
    select tenant_id,
           date_trunc('hour', started_at, 'UTC'),
           agent_id,
           count(*) filter (where status in ('success', 'failure', 'timeout')),
           count(*) filter (where status in ('failure', 'timeout')),
           coalesce(sum(cost_usd), 0)
    from new_executions
    group by 1, 2, 3
    -- concurrent batches of one agent meet on the same hour's row; sorted keys mean two
    -- batches always lock their rows in the same order, so they wait instead of deadlocking
    order by 1, 2, 3
    on conflict (tenant_id, hour, agent_id) do update
    set executions = h.executions + excluded.executions,
        failures = h.failures + excluded.failures,
        cost_usd = h.cost_usd + excluded.cost_usd;
    return null;
end
$$;

create trigger executions_count_agent_hourly
after insert on raw.executions
referencing new table as new_executions
for each statement
execute function app.count_agent_executions_hourly();

-- The realtime worker connects as meta_agent_app, which RLS confines to one tenant per
-- transaction, so it first needs to know which tenants have an SLA to evaluate: this function
-- tells it that and nothing else, as app.tenants_with_executions_since() does for recovery.
-- "In force" is the definition's current version (effective_to is null) with a success-rate
-- target, the only kind a burn rate is measured against.
create function app.tenants_with_success_rate_slas() returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select distinct s.tenant_id
    from public.sla_definitions as s
    where s.effective_to is null and s.target_success_rate is not null
$$;
revoke all on function app.tenants_with_success_rate_slas() from public;
grant execute on function app.tenants_with_success_rate_slas() to meta_agent_app;

-- what was stored before this migration
insert into raw.agent_execution_hourly (tenant_id, hour, agent_id, executions, failures, cost_usd)
select tenant_id,
       date_trunc('hour', started_at, 'UTC'),
       agent_id,
       count(*) filter (where status in ('success', 'failure', 'timeout')),
       count(*) filter (where status in ('failure', 'timeout')),
       coalesce(sum(cost_usd), 0)
from raw.executions
group by 1, 2, 3;
