-- Rebuilding the realtime windows from raw executions after a Redis loss (realtime/recovery.py).
--
-- A window files an execution under its end (started_at + duration_ms). Most executions are
-- short, so those ending in the last hour are found by start through the existing
-- (tenant_id, started_at) index, looking 10 minutes further back. The few that last longer
-- (up to the 7 days ingest accepts) would take a scan of a week of a tenant's rows; this
-- partial index holds only them, so finding them costs an index probe. Its predicate must
-- stay the literal the queries repeat (`duration_ms >= 600000`), or the planner cannot use it.
create index executions_long_idx on raw.executions (tenant_id, started_at)
where duration_ms >= 600000;

-- The worker connects as meta_agent_app, which RLS confines to one tenant per transaction, so
-- it first needs to know which tenants have executions to rebuild from: this function tells
-- it that and nothing else, as app.circuit_breaker_tenants() does for breakers. Tenant ids
-- only; `since` is held to the last day, so it cannot be used to probe older activity.
create function app.tenants_with_executions_since(since timestamptz) returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select t.tenant_id
    from public.tenants as t
    where exists (
        select 1 from raw.executions as e
        where e.tenant_id = t.tenant_id
          and e.started_at >= greatest(since, now() - interval '1 day') - interval '10 minutes'
    ) or exists (
        select 1 from raw.executions as e
        where e.tenant_id = t.tenant_id
          and e.duration_ms >= 600000
          and e.started_at >= greatest(since, now() - interval '1 day') - interval '7 days'
          and e.started_at + e.duration_ms * interval '1 millisecond'
              >= greatest(since, now() - interval '1 day')
    )
$$;
revoke all on function app.tenants_with_executions_since(timestamptz) from public;
grant execute on function app.tenants_with_executions_since(timestamptz) to meta_agent_app;
