-- Agent health as realtime/health decides it.
--
-- Several realtime workers may evaluate the same agent at once. Redis decides each transition
-- by compare-and-set on a version; Postgres keeps the row of the highest version and one
-- transition per version, so a late or retried write from another worker changes nothing.
alter table agent_health_realtime
add column version bigint not null default 0 check (version >= 0);
alter table agent_health_transitions
add column version bigint check (version > 0);
create unique index agent_health_transitions_version_idx
on agent_health_transitions (tenant_id, agent_id, version);

-- The duration from which an execution counts as a slow call in the windows. NULL: the
-- agent's sla_p95_ms, and without one the breaker's default slow-call duration (60 s).
alter table agent_health_thresholds
add column slow_call_ms integer check (slow_call_ms > 0);
