-- Alerting: where alerts go, the alerts themselves, their deliveries, and silences.

-- Catches a secret pasted into a config document: keys that name a credential, and values
-- shaped like well-known tokens (Slack tokens and incoming-webhook URLs, which are secrets
-- themselves, Anthropic keys, ClickUp personal tokens, bearer headers). A guard against
-- mistakes, not a proof; secrets belong in the secret reference columns.
create function app.jsonb_contains_secret(doc jsonb) returns boolean
language sql immutable strict parallel safe
as $$
    select jsonb_path_exists(
        doc,
        'strict $.** ? (@.type() == "object").keyvalue() ? (@.key like_regex '
        '"(^|_)(secret|token|password|passwd|api_?key|authorization|credentials?|private_?key)(_|$)" '
        'flag "i")'
    )
    or jsonb_path_exists(
        doc,
        'strict $.** ? (@.type() == "string") ? ('
        '@ like_regex "hooks\\.slack\\.com/services/" '
        '|| @ like_regex "^xox[abeoprs]-" '
        '|| @ like_regex "^sk-ant-" '
        '|| @ like_regex "^pk_[0-9]+_[A-Za-z0-9]{16,}$" '
        '|| @ like_regex "^bearer " flag "i")'
    )
$$;

-- Secret reference, the same in every table that needs one: either the name of an environment
-- variable of the server, or ciphertext the application encrypted; never the plain secret.
-- The variable name must carry a fixed prefix so a tenant cannot point a channel at
-- METAAGENT_DATABASE_URL or any other variable of the server and have it sent out. The prefix
-- cannot stop one tenant naming another tenant's variable, so on a shared deployment only
-- operators should be allowed to set secret_env_var; tenants use ciphertext.
create table notification_channels (
    notification_channel_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    kind text not null check (kind in ('slack', 'email', 'clickup', 'webhook')),
    name text not null check (length(name) between 1 and 200),
    -- whether the channel accepts batched digests as well as one message per alert
    supports_digest boolean not null default false,
    config jsonb not null default '{}'::jsonb
        check (jsonb_typeof(config) = 'object')
        constraint notification_channels_config_has_no_secret check (not app.jsonb_contains_secret(config)),
    secret_env_var text check (secret_env_var ~ '^METAAGENT_SECRET_[A-Z0-9_]{1,100}$'),
    secret_ciphertext bytea check (length(secret_ciphertext) > 0),
    enabled boolean not null default true,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, name),
    unique (tenant_id, notification_channel_id),
    check (num_nonnulls(secret_env_var, secret_ciphertext) <= 1)
);
select app.enable_tenant_rls('notification_channels');
create trigger notification_channels_touch before update on notification_channels
for each row execute function app.touch_updated_at();
grant select, insert, update on notification_channels to meta_agent_app;

-- Rules are matched in ascending priority; stop_after_match ends the walk, otherwise every
-- matching rule delivers. A NULL agent_id or alert_types matches everything.
create table alert_routing_rules (
    alert_routing_rule_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    notification_channel_id uuid not null,
    name text not null default '' check (length(name) <= 200),
    agent_id uuid,
    severities text [] not null default array['info', 'warning', 'critical', 'emergency']::text [] check (
        cardinality(severities) > 0
        and severities <@ array['info', 'warning', 'critical', 'emergency']::text []
    ),
    alert_types text [] check (
        cardinality(alert_types) > 0
        and alert_types <@ array[
            'health_degraded', 'health_critical', 'circuit_opened', 'error_rate_spike', 'latency_spike',
            'cost_spike', 'budget_exceeded', 'silence', 'sla_at_risk', 'sla_breached'
        ]::text []
    ),
    delivery_mode text not null default 'immediate' check (delivery_mode in ('immediate', 'digest')),
    priority integer not null default 100 check (priority >= 0),
    stop_after_match boolean not null default false,
    enabled boolean not null default true,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    foreign key (tenant_id, notification_channel_id)
    references notification_channels (tenant_id, notification_channel_id) on delete cascade,
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade
);
create index alert_routing_rules_priority_idx on alert_routing_rules (tenant_id, priority) where enabled;
create index alert_routing_rules_channel_idx on alert_routing_rules (tenant_id, notification_channel_id);
create index alert_routing_rules_agent_idx on alert_routing_rules (tenant_id, agent_id);
select app.enable_tenant_rls('alert_routing_rules');
create trigger alert_routing_rules_touch before update on alert_routing_rules
for each row execute function app.touch_updated_at();
grant select, insert, update on alert_routing_rules to meta_agent_app;

-- An alert is one occurrence of a problem, from first seen until resolved. While it is not
-- resolved its fingerprint is unique in the tenant, so a repeat is an upsert
-- (`on conflict (tenant_id, fingerprint) where status <> 'resolved'`) that bumps
-- occurrence_count; after resolution the same fingerprint opens a new alert.
-- `labels` are what silences match against (labels @> matchers).
create table alerts (
    alert_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid,
    alert_type text not null check (
        alert_type in (
            'health_degraded', 'health_critical', 'circuit_opened', 'error_rate_spike', 'latency_spike',
            'cost_spike', 'budget_exceeded', 'silence', 'sla_at_risk', 'sla_breached'
        )
    ),
    severity text not null check (severity in ('info', 'warning', 'critical', 'emergency')),
    status text not null default 'open' check (status in ('open', 'acknowledged', 'resolved')),
    fingerprint text not null check (length(fingerprint) between 1 and 512),
    title text not null check (length(title) between 1 and 500),
    summary text not null default '',
    labels jsonb not null default '{}'::jsonb check (jsonb_typeof(labels) = 'object'),
    details jsonb not null default '{}'::jsonb check (jsonb_typeof(details) = 'object'),
    occurrence_count integer not null default 1 check (occurrence_count > 0),
    -- repeats swallowed by deduplication or a silence
    suppressed_count integer not null default 0 check (suppressed_count >= 0),
    first_seen_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at timestamptz,
    resolved_by text,
    auto_resolved boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, alert_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (last_seen_at >= first_seen_at),
    check (status <> 'acknowledged' or acknowledged_at is not null),
    check ((status = 'resolved') = (resolved_at is not null)),
    check (not auto_resolved or status = 'resolved'),
    check (status <> 'resolved' or auto_resolved or resolved_by is not null)
);
create unique index alerts_open_fingerprint_key on alerts (tenant_id, fingerprint) where status <> 'resolved';
create index alerts_status_idx on alerts (tenant_id, status, last_seen_at desc);
create index alerts_agent_idx on alerts (tenant_id, agent_id, first_seen_at desc);
create index alerts_time_idx on alerts (tenant_id, first_seen_at desc);
select app.enable_tenant_rls('alerts');
create trigger alerts_touch before update on alerts
for each row execute function app.touch_updated_at();
grant select, insert, update on alerts to meta_agent_app;

-- One row per alert × channel × state change; the unique key is what makes delivery
-- exactly-once: the sender claims the row with an insert before it sends, and a retry or a
-- second realtime consumer finds the row instead of sending again. Escalation is one state
-- change per severity reached. external_ref keeps the provider's id (Slack ts, ClickUp task
-- id) so a later state change can update the same message or task.
create table alert_deliveries (
    alert_delivery_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    alert_id uuid not null,
    notification_channel_id uuid not null,
    state_change text not null check (
        state_change in (
            'opened', 'escalated_warning', 'escalated_critical', 'escalated_emergency',
            'acknowledged', 'resolved'
        )
    ),
    status text not null default 'pending' check (status in ('pending', 'sent', 'failed', 'dead_letter')),
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz,
    last_error text,
    response_code integer check (response_code between 100 and 599),
    external_ref text,
    sent_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (alert_id, notification_channel_id, state_change),
    foreign key (tenant_id, alert_id) references alerts (tenant_id, alert_id) on delete cascade,
    -- no cascade: a channel with delivery history is disabled, not deleted
    foreign key (tenant_id, notification_channel_id)
    references notification_channels (tenant_id, notification_channel_id),
    check ((status = 'sent') = (sent_at is not null))
);
create index alert_deliveries_retry_idx on alert_deliveries (tenant_id, next_attempt_at)
where status in ('pending', 'failed');
create index alert_deliveries_channel_idx
on alert_deliveries (tenant_id, notification_channel_id, created_at desc);
select app.enable_tenant_rls('alert_deliveries');
create trigger alert_deliveries_touch before update on alert_deliveries
for each row execute function app.touch_updated_at();
grant select, insert, update on alert_deliveries to meta_agent_app;

-- A silence mutes alerts whose labels contain every matcher (alerts.labels @> matchers), from
-- starts_at until ends_at; ending one early sets ends_at. At least one matcher, so a silence
-- can never mute a whole tenant by accident.
create table alert_silences (
    alert_silence_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    matchers jsonb not null check (jsonb_typeof(matchers) = 'object' and matchers <> '{}'::jsonb),
    starts_at timestamptz not null default now(),
    ends_at timestamptz not null,
    created_by text not null check (length(created_by) between 1 and 200),
    comment text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (ends_at > starts_at)
);
create index alert_silences_active_idx on alert_silences (tenant_id, ends_at, starts_at);
select app.enable_tenant_rls('alert_silences');
create trigger alert_silences_touch before update on alert_silences
for each row execute function app.touch_updated_at();
grant select, insert, update on alert_silences to meta_agent_app;
