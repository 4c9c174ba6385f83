-- SLAs, evaluation reports, failure embeddings and clusters, root causes, improvement proposals.
--
-- Apart from SLA definitions and proposal decisions, everything here is written by the daily
-- batch pipeline as the owner role; the app role only reads it.

-- Definitions change by closing the current row (effective_to) and inserting a new one, so
-- compliance for past days is computed against the SLA that was in force on those days.
-- agent_id NULL is the tenant-wide default; an agent's own definition takes precedence.
create table sla_definitions (
    sla_definition_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid,
    name text not null check (length(name) between 1 and 200),
    target_success_rate double precision check (target_success_rate > 0 and target_success_rate <= 1),
    target_p95_ms double precision check (target_p95_ms > 0),
    target_availability double precision check (target_availability > 0 and target_availability <= 1),
    max_cost_per_execution_usd numeric(14, 8) check (max_cost_per_execution_usd > 0),
    period text not null default 'monthly' check (period in ('daily', 'weekly', 'monthly')),
    -- share of a period's executions allowed to fail; NULL means 1 - target_success_rate
    error_budget double precision check (error_budget > 0 and error_budget < 1),
    effective_from timestamptz not null default now(),
    effective_to timestamptz,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (
        num_nonnulls(target_success_rate, target_p95_ms, target_availability, max_cost_per_execution_usd) > 0
    ),
    check (effective_to > effective_from)
);
-- at most one definition in force per agent, and one tenant-wide (NULL agent_id counts as a value)
create unique index sla_definitions_current_key on sla_definitions (tenant_id, agent_id) nulls not distinct
where effective_to is null;
create index sla_definitions_agent_idx on sla_definitions (tenant_id, agent_id, effective_from);
select app.enable_tenant_rls('sla_definitions');
create trigger sla_definitions_touch before update on sla_definitions
for each row execute function app.touch_updated_at();
grant select, insert, update on sla_definitions to meta_agent_app;

-- Reports are never rewritten: a re-run for the same period adds the next version and marks
-- the previous one superseded, so what a reader saw yesterday stays reproducible.
-- The period is half-open: [period_start, period_end).
create table evaluation_reports (
    evaluation_report_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    period_start date not null,
    period_end date not null,
    version integer not null default 1 check (version > 0),
    engine text not null check (engine in ('claude', 'offline')),
    model text,
    status text not null default 'completed'
        check (status in ('pending', 'completed', 'failed', 'superseded')),
    executions_evaluated integer not null default 0 check (executions_evaluated >= 0),
    scores jsonb not null default '{}'::jsonb check (jsonb_typeof(scores) = 'object'),
    summary text not null default '',
    recommendations jsonb not null default '[]'::jsonb check (jsonb_typeof(recommendations) = 'array'),
    dagster_run_id text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, agent_id, period_start, period_end, version),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (period_end > period_start),
    check (engine <> 'claude' or model is not null)
);
create index evaluation_reports_period_idx on evaluation_reports (tenant_id, period_start desc);
select app.enable_tenant_rls('evaluation_reports');
create trigger evaluation_reports_touch before update on evaluation_reports
for each row execute function app.touch_updated_at();
grant select on evaluation_reports to meta_agent_app;

-- One embedding per execution and embedding model. Not partitioned and not a foreign key
-- to raw.executions (see 0002); rows outlive their raw partition, which is what lets old
-- failures keep their place in clusters. text_hash is the sha256 of the embedded text, so
-- a re-run embeds only text it has not embedded before.
create table execution_embeddings (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    execution_id uuid not null,
    started_at timestamptz not null,
    agent_id uuid not null,
    model text not null check (length(model) between 1 and 200),
    embedding vector (384) not null,
    text_hash bytea not null check (length(text_hash) = 32),
    created_at timestamptz not null default now(),
    primary key (tenant_id, execution_id, started_at, model),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade
);
-- Nearest-neighbour search runs under RLS, i.e. with a tenant filter after the index scan;
-- set hnsw.iterative_scan (pgvector >= 0.8) so a filtered query still returns k rows.
create index execution_embeddings_hnsw_idx on execution_embeddings using hnsw (embedding vector_cosine_ops);
create index execution_embeddings_agent_idx on execution_embeddings (tenant_id, agent_id, started_at);
create index execution_embeddings_text_hash_idx on execution_embeddings (tenant_id, model, text_hash);
select app.enable_tenant_rls('execution_embeddings');
grant select on execution_embeddings to meta_agent_app;

-- Recomputed per daily partition (partition_date); a re-run replaces that day's clusters.
-- agent_id is NULL when a cluster spans agents (an outage of a shared dependency does).
create table failure_clusters (
    failure_cluster_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    partition_date date not null,
    agent_id uuid,
    label text not null check (length(label) between 1 and 500),
    size integer not null check (size > 0),
    centroid vector (384) not null,
    first_seen_at timestamptz not null,
    last_seen_at timestamptz not null,
    representative_execution_ids uuid [] not null default '{}',
    algorithm text not null
        check (algorithm in ('hdbscan', 'dbscan', 'optics', 'kmeans', 'agglomerative', 'birch')),
    params jsonb not null default '{}'::jsonb check (jsonb_typeof(params) = 'object'),
    dagster_run_id text,
    created_at timestamptz not null default now(),
    unique (tenant_id, failure_cluster_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (last_seen_at >= first_seen_at)
);
create index failure_clusters_partition_idx on failure_clusters (tenant_id, partition_date desc);
create index failure_clusters_agent_idx on failure_clusters (tenant_id, agent_id, partition_date desc);
select app.enable_tenant_rls('failure_clusters');
grant select on failure_clusters to meta_agent_app;

create table failure_cluster_members (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    failure_cluster_id uuid not null,
    execution_id uuid not null,
    started_at timestamptz not null,
    agent_id uuid not null,
    distance double precision not null check (distance >= 0),
    created_at timestamptz not null default now(),
    primary key (tenant_id, failure_cluster_id, execution_id, started_at),
    foreign key (tenant_id, failure_cluster_id)
    references failure_clusters (tenant_id, failure_cluster_id) on delete cascade,
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade
);
create index failure_cluster_members_execution_idx on failure_cluster_members (tenant_id, execution_id);
create index failure_cluster_members_agent_idx on failure_cluster_members (tenant_id, agent_id, started_at);
select app.enable_tenant_rls('failure_cluster_members');
grant select on failure_cluster_members to meta_agent_app;

-- The categories line up with the fleet simulator's fault kinds (tool_timeout_storm →
-- tool_failure, external_api_outage → external_dependency, cost_blowup → cost_anomaly), so
-- root-cause accuracy can be scored against simulated_faults.
create table root_cause_analyses (
    root_cause_analysis_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    failure_cluster_id uuid not null,
    category text not null check (
        category in (
            'tool_failure', 'prompt_regression', 'context_overflow', 'external_dependency',
            'cost_anomaly', 'model_error', 'data_quality', 'unknown'
        )
    ),
    confidence double precision not null check (confidence between 0 and 1),
    evidence jsonb not null default '{}'::jsonb check (jsonb_typeof(evidence) = 'object'),
    engine text not null check (engine in ('claude', 'offline')),
    model text,
    summary text not null default '',
    created_at timestamptz not null default now(),
    unique (tenant_id, root_cause_analysis_id),
    foreign key (tenant_id, failure_cluster_id)
    references failure_clusters (tenant_id, failure_cluster_id) on delete cascade,
    check (engine <> 'claude' or model is not null)
);
create index root_cause_analyses_cluster_idx
on root_cause_analyses (tenant_id, failure_cluster_id, created_at desc);
create index root_cause_analyses_category_idx on root_cause_analyses (tenant_id, category, created_at desc);
select app.enable_tenant_rls('root_cause_analyses');
grant select on root_cause_analyses to meta_agent_app;

-- A proposal outlives the cluster run that produced it: re-running a partition deletes that
-- day's clusters and root causes, and only clears root_cause_analysis_id here.
-- The app role may only record a decision or an application (column grants below); it can
-- never rewrite the payload a person or a policy approved.
create table improvement_proposals (
    improvement_proposal_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    root_cause_analysis_id uuid,
    kind text not null check (kind in ('prompt_change', 'config_change', 'tool_change', 'model_change')),
    title text not null check (length(title) between 1 and 500),
    rationale text not null default '',
    -- the proposed change: a prompt diff, a config patch, ...
    payload jsonb not null default '{}'::jsonb check (jsonb_typeof(payload) = 'object'),
    engine text not null check (engine in ('claude', 'offline')),
    model text,
    status text not null default 'draft' check (
        status in ('draft', 'pending_approval', 'approved', 'rejected', 'applied', 'superseded')
    ),
    -- a person, or NULL when approval_policy decided
    decided_by text,
    decided_at timestamptz,
    decision_reason text,
    approval_policy text,
    applied_prompt_version_id uuid,
    applied_at timestamptz,
    -- learnings (0006) this proposal builds on; an array, so not a foreign key
    cites_learning_ids uuid [] not null default '{}',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, improvement_proposal_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    foreign key (tenant_id, root_cause_analysis_id)
    references root_cause_analyses (tenant_id, root_cause_analysis_id)
    on delete set null (root_cause_analysis_id),
    foreign key (tenant_id, agent_id, applied_prompt_version_id)
    references prompt_versions (tenant_id, agent_id, prompt_version_id),
    check (engine <> 'claude' or model is not null),
    check (
        status not in ('approved', 'rejected', 'applied')
        or (decided_at is not null and (decided_by is not null or approval_policy is not null))
    ),
    check (status <> 'applied' or applied_at is not null)
);
create index improvement_proposals_status_idx on improvement_proposals (tenant_id, status, created_at desc);
create index improvement_proposals_agent_idx on improvement_proposals (tenant_id, agent_id, created_at desc);
create index improvement_proposals_root_cause_idx
on improvement_proposals (tenant_id, root_cause_analysis_id);
select app.enable_tenant_rls('improvement_proposals');
create trigger improvement_proposals_touch before update on improvement_proposals
for each row execute function app.touch_updated_at();
grant select on improvement_proposals to meta_agent_app;
grant update (
    status, decided_by, decided_at, decision_reason, approval_policy, applied_prompt_version_id, applied_at
) on improvement_proposals to meta_agent_app;
