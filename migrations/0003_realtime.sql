-- Agent health and circuit breakers as the realtime process decides them.
--
-- Redis holds the live 10 s buckets and windows; these tables are the durable record the
-- realtime process rebuilds its cache from after a loss, and what the API reads.

-- One row per agent, overwritten on every evaluation, so the dashboard reads current health
-- without scanning history. The window numbers are columns rather than jsonb because the
-- dashboard sorts and filters on them. Low fillfactor: the row is rewritten every few
-- seconds and the free space keeps those updates HOT (no index churn).
create table agent_health_realtime (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    state text not null default 'unknown'
        check (state in ('healthy', 'degraded', 'critical', 'unknown')),
    -- when the current state was entered; hysteresis measures from here
    state_since timestamptz not null default now(),
    executions_5m integer not null default 0 check (executions_5m >= 0),
    failures_5m integer not null default 0 check (failures_5m between 0 and executions_5m),
    error_rate_5m double precision check (error_rate_5m between 0 and 1),
    latency_p50_ms_5m double precision check (latency_p50_ms_5m >= 0),
    latency_p95_ms_5m double precision check (latency_p95_ms_5m >= 0),
    latency_p99_ms_5m double precision check (latency_p99_ms_5m >= 0),
    cost_usd_5m numeric(14, 8) not null default 0 check (cost_usd_5m >= 0),
    executions_1h integer not null default 0 check (executions_1h >= 0),
    failures_1h integer not null default 0 check (failures_1h between 0 and executions_1h),
    error_rate_1h double precision check (error_rate_1h between 0 and 1),
    latency_p50_ms_1h double precision check (latency_p50_ms_1h >= 0),
    latency_p95_ms_1h double precision check (latency_p95_ms_1h >= 0),
    latency_p99_ms_1h double precision check (latency_p99_ms_1h >= 0),
    cost_usd_1h numeric(14, 8) not null default 0 check (cost_usd_1h >= 0),
    consecutive_failures integer not null default 0 check (consecutive_failures >= 0),
    last_execution_at timestamptz,
    evaluated_at timestamptz not null default now(),
    reason text not null default '',
    details jsonb not null default '{}'::jsonb check (jsonb_typeof(details) = 'object'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, agent_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (latency_p50_ms_5m <= latency_p95_ms_5m and latency_p95_ms_5m <= latency_p99_ms_5m),
    check (latency_p50_ms_1h <= latency_p95_ms_1h and latency_p95_ms_1h <= latency_p99_ms_1h)
) with (fillfactor = 70);
create index agent_health_realtime_state_idx on agent_health_realtime (tenant_id, state);
select app.enable_tenant_rls('agent_health_realtime');
create trigger agent_health_realtime_touch before update on agent_health_realtime
for each row execute function app.touch_updated_at();
grant select, insert, update on agent_health_realtime to meta_agent_app;

create table agent_health_transitions (
    agent_health_transition_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    from_state text not null check (from_state in ('healthy', 'degraded', 'critical', 'unknown')),
    to_state text not null check (to_state in ('healthy', 'degraded', 'critical', 'unknown')),
    transitioned_at timestamptz not null default now(),
    reason text not null default '',
    -- the window numbers that caused the transition, as they were at that moment
    metrics jsonb not null default '{}'::jsonb check (jsonb_typeof(metrics) = 'object'),
    created_at timestamptz not null default now(),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (from_state <> to_state)
);
create index agent_health_transitions_agent_idx
on agent_health_transitions (tenant_id, agent_id, transitioned_at desc);
create index agent_health_transitions_time_idx on agent_health_transitions (tenant_id, transitioned_at desc);
select app.enable_tenant_rls('agent_health_transitions');
grant select, insert on agent_health_transitions to meta_agent_app;

-- Overrides only: a NULL column means "use the realtime default", so a row with every
-- column NULL is the same as no row and resetting an agent never needs a delete.
-- Hysteresis: a worse state is entered when a threshold is crossed, but left only when the
-- number falls below threshold × hysteresis_ratio and the state has held for
-- hysteresis_min_seconds, so an agent hovering at a threshold does not flap.
create table agent_health_thresholds (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    error_rate_degraded double precision check (error_rate_degraded between 0 and 1),
    error_rate_critical double precision check (error_rate_critical between 0 and 1),
    -- p95 latency compared with agents.sla_p95_ms × multiplier
    p95_sla_multiplier_degraded double precision check (p95_sla_multiplier_degraded > 0),
    p95_sla_multiplier_critical double precision check (p95_sla_multiplier_critical > 0),
    consecutive_failures_degraded integer check (consecutive_failures_degraded > 0),
    consecutive_failures_critical integer check (consecutive_failures_critical > 0),
    -- an active agent with no execution for this long is silent (alert type 'silence')
    silence_minutes integer check (silence_minutes > 0),
    -- below this many executions in a window the rates are not judged
    min_samples integer check (min_samples > 0),
    hysteresis_ratio double precision check (hysteresis_ratio > 0 and hysteresis_ratio <= 1),
    hysteresis_min_seconds integer check (hysteresis_min_seconds >= 0),
    updated_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, agent_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (error_rate_degraded <= error_rate_critical),
    check (p95_sla_multiplier_degraded <= p95_sla_multiplier_critical),
    check (consecutive_failures_degraded <= consecutive_failures_critical)
);
select app.enable_tenant_rls('agent_health_thresholds');
create trigger agent_health_thresholds_touch before update on agent_health_thresholds
for each row execute function app.touch_updated_at();
grant select, insert, update on agent_health_thresholds to meta_agent_app;

-- A row is a complete configuration (NULL only where it switches a trigger off); an agent
-- without a row runs on the realtime defaults. window_size counts calls for a count window
-- and seconds for a time window.
create table circuit_breaker_configs (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    enabled boolean not null default true,
    window_kind text not null default 'count' check (window_kind in ('count', 'time')),
    window_size integer not null default 100 check (window_size > 0),
    min_calls integer not null default 20 check (min_calls > 0),
    failure_rate_threshold double precision not null default 0.5
        check (failure_rate_threshold > 0 and failure_rate_threshold <= 1),
    slow_call_duration_ms integer not null default 60000 check (slow_call_duration_ms > 0),
    slow_call_rate_threshold double precision not null default 1
        check (slow_call_rate_threshold > 0 and slow_call_rate_threshold <= 1),
    -- NULL disables the consecutive-failure trigger
    consecutive_failures_threshold integer check (consecutive_failures_threshold > 0),
    -- open duration grows by backoff_multiplier on each reopen, capped at max_open_duration_ms
    open_duration_ms integer not null default 30000 check (open_duration_ms > 0),
    backoff_multiplier double precision not null default 2 check (backoff_multiplier >= 1),
    max_open_duration_ms integer not null default 600000,
    half_open_permitted_probes integer not null default 3 check (half_open_permitted_probes > 0),
    -- a probe that has not reported by then counts as failed, so a hung probe cannot wedge the breaker
    half_open_deadline_ms integer not null default 30000 check (half_open_deadline_ms > 0),
    updated_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, agent_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (max_open_duration_ms >= open_duration_ms),
    check (window_kind <> 'count' or min_calls <= window_size)
);
select app.enable_tenant_rls('circuit_breaker_configs');
create trigger circuit_breaker_configs_touch before update on circuit_breaker_configs
for each row execute function app.touch_updated_at();
grant select, insert, update on circuit_breaker_configs to meta_agent_app;

-- Redis decides transitions atomically; this row is their durable copy. Writers update with
-- `where version = <expected>` and bump it, so a stale writer (a second realtime consumer, or
-- an operator's override racing an automatic transition) changes nothing and must re-read.
create table circuit_breaker_states (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    state text not null default 'closed'
        check (state in ('closed', 'open', 'half_open', 'forced_open', 'forced_closed')),
    state_changed_at timestamptz not null default now(),
    opened_at timestamptz,
    open_until timestamptz,
    -- reopens since the breaker last closed; drives the open-duration backoff
    consecutive_opens integer not null default 0 check (consecutive_opens >= 0),
    half_open_permits_remaining integer not null default 0 check (half_open_permits_remaining >= 0),
    half_open_deadline_at timestamptz,
    forced_by text,
    forced_reason text,
    version bigint not null default 0 check (version >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, agent_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (state <> 'open' or (opened_at is not null and open_until is not null)),
    check (open_until > opened_at),
    check (state <> 'half_open' or half_open_deadline_at is not null),
    check (
        state not in ('forced_open', 'forced_closed')
        or (forced_by is not null and forced_reason is not null)
    )
);
create index circuit_breaker_states_state_idx on circuit_breaker_states (tenant_id, state);
select app.enable_tenant_rls('circuit_breaker_states');
create trigger circuit_breaker_states_touch before update on circuit_breaker_states
for each row execute function app.touch_updated_at();
grant select, insert, update on circuit_breaker_states to meta_agent_app;

-- Every transition and every manual override, written in the same transaction as the state
-- row. `version` is the state row's version after the change, so a retried write after a
-- crash conflicts instead of logging the event twice. A manual override or a config change
-- may leave the state as it was (e.g. a reset), so only those may have from = to.
create table circuit_breaker_events (
    circuit_breaker_event_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    from_state text not null
        check (from_state in ('closed', 'open', 'half_open', 'forced_open', 'forced_closed')),
    to_state text not null
        check (to_state in ('closed', 'open', 'half_open', 'forced_open', 'forced_closed')),
    occurred_at timestamptz not null default now(),
    cause text not null check (
        cause in (
            'failure_rate', 'slow_call_rate', 'consecutive_failures', 'open_elapsed',
            'probe_succeeded', 'probe_failed', 'probe_deadline', 'manual', 'config_changed'
        )
    ),
    -- 'realtime' for automatic transitions, otherwise the person or API key that acted
    actor text not null check (length(actor) between 1 and 200),
    reason text not null default '',
    metrics jsonb not null default '{}'::jsonb check (jsonb_typeof(metrics) = 'object'),
    version bigint not null check (version > 0),
    created_at timestamptz not null default now(),
    unique (tenant_id, agent_id, version),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (from_state <> to_state or cause in ('manual', 'config_changed')),
    check (cause <> 'manual' or length(reason) > 0)
);
create index circuit_breaker_events_agent_idx
on circuit_breaker_events (tenant_id, agent_id, occurred_at desc);
create index circuit_breaker_events_time_idx on circuit_breaker_events (tenant_id, occurred_at desc);
select app.enable_tenant_rls('circuit_breaker_events');
grant select, insert on circuit_breaker_events to meta_agent_app;
