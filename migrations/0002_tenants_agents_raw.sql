-- Tenants, API keys, the agent registry, prompt versions, and the raw log tables.

create table tenants (
    tenant_id uuid primary key default gen_random_uuid(),
    name text not null unique check (length(name) between 1 and 200),
    -- what ingest does with an agent name it has never seen: register it or refuse the item
    unknown_agent_policy text not null default 'register'
        check (unknown_agent_policy in ('register', 'reject')),
    -- raw logs older than this are archived to Parquet and their partitions dropped
    retention_days integer not null default 30 check (retention_days between 1 and 3650),
    settings jsonb not null default '{}'::jsonb check (jsonb_typeof(settings) = 'object'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
select app.enable_tenant_rls('tenants');
create trigger tenants_touch before update on tenants
for each row execute function app.touch_updated_at();
grant select, update on tenants to meta_agent_app;

create table api_keys (
    api_key_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    name text not null check (length(name) between 1 and 200),
    -- the first characters of the key, shown in listings so people can tell keys apart
    prefix text not null check (length(prefix) between 4 and 32),
    -- sha256 of the whole key; the key itself is shown once and never stored
    key_hash bytea not null unique check (length(key_hash) = 32),
    scopes text [] not null check (
        cardinality(scopes) > 0 and scopes <@ array['ingest', 'read', 'write', 'admin']::text []
    ),
    created_by text,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz,
    revoked_by text
);
create index api_keys_tenant_idx on api_keys (tenant_id, created_at);
select app.enable_tenant_rls('api_keys');
grant select, insert, update on api_keys to meta_agent_app;

-- A request arrives before its tenant is known, so the lookup of a key by its hash cannot go
-- through RLS. This function is the one narrow door: it returns the key's tenant and scopes
-- only for a live key, and records its use. It runs with the owner's rights.
-- last_used_at is refreshed at most once a minute, so a busy ingest key does not turn every
-- request into a row update.
create function app.authenticate_api_key(candidate_hash bytea)
returns table (api_key_id uuid, tenant_id uuid, scopes text [])
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
    key_row public.api_keys%rowtype;
begin
    select * into key_row from public.api_keys k
    where k.key_hash = candidate_hash
      and k.revoked_at is null
      and (k.expires_at is null or k.expires_at > now());
    if not found then
        return;
    end if;
    if key_row.last_used_at is null or key_row.last_used_at < now() - interval '1 minute' then
        update public.api_keys k set last_used_at = now() where k.api_key_id = key_row.api_key_id;
    end if;
    api_key_id := key_row.api_key_id;
    tenant_id := key_row.tenant_id;
    scopes := key_row.scopes;
    return next;
end
$$;
revoke all on function app.authenticate_api_key(bytea) from public;
grant execute on function app.authenticate_api_key(bytea) to meta_agent_app;

create table agents (
    agent_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    name text not null check (length(name) between 1 and 200),
    kind text not null default 'custom'
        check (kind in ('writer', 'assistant', 'classifier', 'workflow', 'custom')),
    owner text,
    description text not null default '',
    config jsonb not null default '{}'::jsonb check (jsonb_typeof(config) = 'object'),
    tags text [] not null default '{}',
    status text not null default 'active' check (status in ('active', 'paused', 'archived')),
    -- latency SLA used by health evaluation; sla_definitions hold the full contract
    sla_p95_ms integer check (sla_p95_ms > 0),
    current_prompt_version_id uuid,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    archived_at timestamptz,
    unique (tenant_id, name),
    -- lets child tables reference (tenant_id, agent_id) so a row can never point across tenants
    unique (tenant_id, agent_id)
);
create index agents_tenant_status_idx on agents (tenant_id, status, name);
create index agents_tags_idx on agents using gin (tags);
select app.enable_tenant_rls('agents');
create trigger agents_touch before update on agents
for each row execute function app.touch_updated_at();
grant select, insert, update on agents to meta_agent_app;

create table agent_dependencies (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    upstream_agent_id uuid not null,
    downstream_agent_id uuid not null,
    kind text not null default 'calls' check (kind in ('calls', 'feeds', 'triggers')),
    description text not null default '',
    created_at timestamptz not null default now(),
    primary key (tenant_id, upstream_agent_id, downstream_agent_id),
    foreign key (tenant_id, upstream_agent_id) references agents (tenant_id, agent_id) on delete cascade,
    foreign key (tenant_id, downstream_agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (upstream_agent_id <> downstream_agent_id)
);
create index agent_dependencies_downstream_idx on agent_dependencies (tenant_id, downstream_agent_id);
select app.enable_tenant_rls('agent_dependencies');
grant select, insert, delete on agent_dependencies to meta_agent_app;

create table prompt_versions (
    prompt_version_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    version integer not null check (version > 0),
    parent_version_id uuid,
    template text not null,
    variables text [] not null default '{}',
    model text,
    parameters jsonb not null default '{}'::jsonb check (jsonb_typeof(parameters) = 'object'),
    author text,
    change_summary text not null default '',
    status text not null default 'draft'
        check (status in ('draft', 'candidate', 'shadow', 'canary', 'active', 'retired', 'rolled_back')),
    -- where the version came from: a person, or the proposal that generated it
    source text not null default 'manual' check (source in ('manual', 'proposal', 'import')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, agent_id, version),
    unique (tenant_id, prompt_version_id),
    -- lets rows name a version together with its agent, so nothing can point at another
    -- agent's version (current version, parents, experiments, proposals)
    unique (tenant_id, agent_id, prompt_version_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    foreign key (tenant_id, agent_id, parent_version_id)
    references prompt_versions (tenant_id, agent_id, prompt_version_id)
);
create index prompt_versions_agent_idx on prompt_versions (tenant_id, agent_id, version desc);
create unique index prompt_versions_one_active_idx on prompt_versions (tenant_id, agent_id)
where status = 'active';
select app.enable_tenant_rls('prompt_versions');
create trigger prompt_versions_touch before update on prompt_versions
for each row execute function app.touch_updated_at();
grant select, insert, update on prompt_versions to meta_agent_app;

alter table agents
add constraint agents_current_prompt_version_fk
foreign key (tenant_id, agent_id, current_prompt_version_id)
references prompt_versions (tenant_id, agent_id, prompt_version_id)
deferrable initially deferred;

-- Raw logs. Append-only, range-partitioned by UTC day on start time, idempotent by the event id
-- the SDK generates (time-ordered UUIDs). The unique key must contain the partition key, so a
-- replayed event (same id, same start) is a conflict and stores nothing twice.
-- No foreign keys here on purpose: per-row FK checks would halve COPY throughput, and ingest
-- validates agents before it writes.
create table raw.executions (
    execution_id uuid not null,
    tenant_id uuid not null,
    agent_id uuid not null,
    started_at timestamptz not null,
    ended_at timestamptz,
    duration_ms double precision check (duration_ms >= 0),
    status text not null check (status in ('running', 'success', 'failure', 'timeout', 'cancelled')),
    session_id text,
    -- an execution started by another agent's execution (agent-to-agent calls)
    parent_execution_id uuid,
    trace_id text,
    prompt_version_id uuid,
    experiment_id uuid,
    variant text,
    model text,
    input_tokens integer not null default 0 check (input_tokens >= 0),
    output_tokens integer not null default 0 check (output_tokens >= 0),
    cost_usd numeric(14, 8) not null default 0 check (cost_usd >= 0),
    error_type text,
    error_message text,
    input jsonb,
    output jsonb,
    metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
    sdk_version text,
    ingested_at timestamptz not null default now(),
    primary key (execution_id, started_at),
    check (ended_at >= started_at),
    check (status <> 'running' or ended_at is null)
) partition by range (started_at);
create index executions_agent_time_idx on raw.executions (tenant_id, agent_id, started_at);
create index executions_tenant_time_idx on raw.executions (tenant_id, started_at);
select app.enable_tenant_rls('raw.executions');
grant select, insert on raw.executions to meta_agent_app;

create table raw.actions (
    action_id uuid not null,
    tenant_id uuid not null,
    execution_id uuid not null,
    parent_action_id uuid,
    agent_id uuid not null,
    sequence integer not null default 0 check (sequence >= 0),
    action_type text not null check (
        action_type in (
            'tool_call', 'llm_inference', 'retrieval', 'human_intervention', 'decision', 'error', 'custom'
        )
    ),
    name text not null,
    started_at timestamptz not null,
    ended_at timestamptz,
    duration_ms double precision check (duration_ms >= 0),
    status text not null check (status in ('success', 'failure', 'timeout')),
    model text,
    input_tokens integer not null default 0 check (input_tokens >= 0),
    output_tokens integer not null default 0 check (output_tokens >= 0),
    cost_usd numeric(14, 8) not null default 0 check (cost_usd >= 0),
    error_type text,
    error_message text,
    input jsonb,
    output jsonb,
    attributes jsonb not null default '{}'::jsonb check (jsonb_typeof(attributes) = 'object'),
    ingested_at timestamptz not null default now(),
    primary key (action_id, started_at),
    check (ended_at >= started_at)
) partition by range (started_at);
create index actions_execution_idx on raw.actions (tenant_id, execution_id);
create index actions_type_time_idx on raw.actions (tenant_id, action_type, started_at);
select app.enable_tenant_rls('raw.actions');
grant select, insert on raw.actions to meta_agent_app;

-- Ground truth of the fleet simulator: which faults it injected, where and when. Clustering
-- and root-cause analysis are scored against it; it is never an input to them.
create table simulated_faults (
    simulated_fault_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    fault_kind text not null check (
        fault_kind in (
            'tool_timeout_storm', 'prompt_regression', 'context_overflow',
            'external_api_outage', 'cost_blowup'
        )
    ),
    started_at timestamptz not null,
    ended_at timestamptz not null check (ended_at > started_at),
    details jsonb not null default '{}'::jsonb check (jsonb_typeof(details) = 'object'),
    seed bigint not null,
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade
);
create index simulated_faults_agent_idx on simulated_faults (tenant_id, agent_id, started_at);
select app.enable_tenant_rls('simulated_faults');
grant select on simulated_faults to meta_agent_app;
