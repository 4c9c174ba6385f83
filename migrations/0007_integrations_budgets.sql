-- Integrations with outside tools, outgoing webhook subscriptions, and cost budgets.
--
-- Config documents and secret references follow notification_channels (0004): no secret in
-- config (app.jsonb_contains_secret), and a secret is either a METAAGENT_SECRET_* environment
-- variable name or application-encrypted ciphertext.

create table integrations (
    integration_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    kind text not null check (kind in ('n8n', 'langchain', 'clickup', 'slack', 'generic')),
    name text not null check (length(name) between 1 and 200),
    config jsonb not null default '{}'::jsonb
        check (jsonb_typeof(config) = 'object')
        constraint integrations_config_has_no_secret check (not app.jsonb_contains_secret(config)),
    secret_env_var text check (secret_env_var ~ '^METAAGENT_SECRET_[A-Z0-9_]{1,100}$'),
    secret_ciphertext bytea check (length(secret_ciphertext) > 0),
    enabled boolean not null default true,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, name),
    unique (tenant_id, integration_id),
    check (num_nonnulls(secret_env_var, secret_ciphertext) <= 1)
);
create index integrations_kind_idx on integrations (tenant_id, kind);
select app.enable_tenant_rls('integrations');
create trigger integrations_touch before update on integrations
for each row execute function app.touch_updated_at();
grant select, insert, update on integrations to meta_agent_app;

-- Every delivery is signed (HMAC), so a signing secret reference is required, not optional.
-- consecutive_failures lets the sender disable a subscription whose endpoint keeps failing.
create table webhook_subscriptions (
    webhook_subscription_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    -- the integration this subscription belongs to, if any (e.g. an n8n workflow trigger)
    integration_id uuid,
    url text not null check (length(url) <= 2048 and url ~ '^https?://[^[:space:]]+$'),
    event_types text [] not null check (
        cardinality(event_types) > 0
        and event_types <@ array[
            'alert.opened', 'alert.acknowledged', 'alert.resolved',
            'health.changed', 'circuit_breaker.changed',
            'proposal.created', 'proposal.decided',
            'shadow_test.completed', 'canary.promoted', 'canary.rolled_back', 'ab_test.decided',
            'evaluation_report.completed', 'budget.warning', 'budget.exceeded'
        ]::text []
    ),
    signing_secret_env_var text check (signing_secret_env_var ~ '^METAAGENT_SECRET_[A-Z0-9_]{1,100}$'),
    signing_secret_ciphertext bytea check (length(signing_secret_ciphertext) > 0),
    enabled boolean not null default true,
    last_delivery_at timestamptz,
    last_delivery_status text check (last_delivery_status in ('succeeded', 'failed')),
    last_response_code integer check (last_response_code between 100 and 599),
    consecutive_failures integer not null default 0 check (consecutive_failures >= 0),
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    foreign key (tenant_id, integration_id)
    references integrations (tenant_id, integration_id) on delete set null (integration_id),
    check (num_nonnulls(signing_secret_env_var, signing_secret_ciphertext) = 1),
    check ((last_delivery_at is null) = (last_delivery_status is null))
);
create index webhook_subscriptions_tenant_idx on webhook_subscriptions (tenant_id, created_at);
create index webhook_subscriptions_event_types_idx on webhook_subscriptions using gin (event_types)
where enabled;
create index webhook_subscriptions_integration_idx on webhook_subscriptions (tenant_id, integration_id);
select app.enable_tenant_rls('webhook_subscriptions');
create trigger webhook_subscriptions_touch before update on webhook_subscriptions
for each row execute function app.touch_updated_at();
grant select, insert, update on webhook_subscriptions to meta_agent_app;

-- agent_id NULL budgets the whole tenant. At most one enabled budget per scope and period,
-- so "is this agent over budget" has one answer.
create table cost_budgets (
    cost_budget_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid,
    period text not null check (period in ('daily', 'monthly')),
    amount_usd numeric(14, 2) not null check (amount_usd > 0),
    -- share of the amount at which a warning goes out, before budget_exceeded
    warn_at_fraction double precision not null default 0.8
        check (warn_at_fraction > 0 and warn_at_fraction <= 1),
    enabled boolean not null default true,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade
);
create unique index cost_budgets_scope_key on cost_budgets (tenant_id, agent_id, period) nulls not distinct
where enabled;
create index cost_budgets_agent_idx on cost_budgets (tenant_id, agent_id);
select app.enable_tenant_rls('cost_budgets');
create trigger cost_budgets_touch before update on cost_budgets
for each row execute function app.touch_updated_at();
grant select, insert, update on cost_budgets to meta_agent_app;
