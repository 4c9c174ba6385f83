-- Circuit breakers as realtime/breaker decides them.
--
-- Half-open probes each carry their own deadline (taken when the probe is admitted), so a
-- half-open breaker has a deadline only while a probe is out. Between probes (one probe back
-- and succeeded, the next not yet admitted) it has none but still has permits to hand out.
-- The invariant is therefore "a probe is out, or one can still be admitted".
alter table circuit_breaker_states drop constraint circuit_breaker_states_check2;
alter table circuit_breaker_states add constraint circuit_breaker_states_half_open_check check (
    state <> 'half_open' or half_open_deadline_at is not null or half_open_permits_remaining > 0
);

-- After a Redis loss the realtime worker restores every breaker from its row. It connects as
-- meta_agent_app, which RLS confines to one tenant per transaction, so it first needs to know
-- which tenants have breakers: this function tells it that and nothing else.
create function app.circuit_breaker_tenants() returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$ select distinct tenant_id from public.circuit_breaker_states $$;
revoke all on function app.circuit_breaker_tenants() from public;
grant execute on function app.circuit_breaker_tenants() to meta_agent_app;
