-- The safety rail: shadow tests, canary deployments, A/B tests, and what they teach.
--
-- Every experiment names its prompt versions together with its agent (the composite key of
-- prompt_versions from 0002), so it can never compare versions of different agents, and a version with
-- experiment history cannot be deleted on its own. improvement_proposal_id traces an
-- experiment back to the proposal it tests; deleting the proposal only clears it.

-- Users only ever see the baseline; a sample of live inputs also runs the candidate.
-- One live shadow test per candidate, so a sampled input is never paid for twice.
create table shadow_tests (
    shadow_test_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    candidate_prompt_version_id uuid not null,
    -- the version that was current when the test was set up
    baseline_prompt_version_id uuid not null,
    improvement_proposal_id uuid,
    sample_rate double precision not null check (sample_rate > 0 and sample_rate <= 1),
    min_samples integer not null default 100 check (min_samples > 0),
    status text not null default 'pending'
        check (status in ('pending', 'running', 'passed', 'failed', 'aborted')),
    started_at timestamptz,
    ended_at timestamptz,
    results jsonb not null default '{}'::jsonb check (jsonb_typeof(results) = 'object'),
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, shadow_test_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    foreign key (tenant_id, agent_id, candidate_prompt_version_id)
    references prompt_versions (tenant_id, agent_id, prompt_version_id),
    foreign key (tenant_id, agent_id, baseline_prompt_version_id)
    references prompt_versions (tenant_id, agent_id, prompt_version_id),
    foreign key (tenant_id, improvement_proposal_id)
    references improvement_proposals (tenant_id, improvement_proposal_id)
    on delete set null (improvement_proposal_id),
    check (candidate_prompt_version_id <> baseline_prompt_version_id),
    check (status = 'pending' or started_at is not null),
    check ((status in ('passed', 'failed', 'aborted')) = (ended_at is not null)),
    check (ended_at >= started_at)
);
create unique index shadow_tests_live_candidate_key on shadow_tests (tenant_id, candidate_prompt_version_id)
where status in ('pending', 'running');
create index shadow_tests_agent_idx on shadow_tests (tenant_id, agent_id, created_at desc);
create index shadow_tests_status_idx on shadow_tests (tenant_id, status);
select app.enable_tenant_rls('shadow_tests');
create trigger shadow_tests_touch before update on shadow_tests
for each row execute function app.touch_updated_at();
grant select, insert, update on shadow_tests to meta_agent_app;

-- One row per sampled live input; execution_id/started_at name the live (baseline) execution
-- in raw.executions. Scores are normalised to 0..1 whatever the judge's own scale.
create table shadow_test_results (
    shadow_test_result_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    shadow_test_id uuid not null,
    execution_id uuid not null,
    started_at timestamptz not null,
    candidate_outcome text not null check (candidate_outcome in ('success', 'failure', 'timeout')),
    candidate_latency_ms double precision check (candidate_latency_ms >= 0),
    candidate_cost_usd numeric(14, 8) not null default 0 check (candidate_cost_usd >= 0),
    candidate_score double precision check (candidate_score between 0 and 1),
    baseline_score double precision check (baseline_score between 0 and 1),
    judge jsonb not null default '{}'::jsonb check (jsonb_typeof(judge) = 'object'),
    created_at timestamptz not null default now(),
    unique (shadow_test_id, execution_id, started_at),
    foreign key (tenant_id, shadow_test_id)
    references shadow_tests (tenant_id, shadow_test_id) on delete cascade
);
create index shadow_test_results_test_idx on shadow_test_results (tenant_id, shadow_test_id, created_at);
select app.enable_tenant_rls('shadow_test_results');
grant select on shadow_test_results to meta_agent_app;

-- At most one live canary per agent: the routing table sends a hash range of traffic to one
-- candidate, and realtime guardrails must know which deployment to roll back.
create table canary_deployments (
    canary_deployment_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    candidate_prompt_version_id uuid not null,
    baseline_prompt_version_id uuid not null,
    improvement_proposal_id uuid,
    status text not null default 'pending'
        check (status in ('pending', 'running', 'promoted', 'rolled_back', 'aborted')),
    current_stage integer not null default 0 check (current_stage >= 0),
    guardrails jsonb not null default '{}'::jsonb check (jsonb_typeof(guardrails) = 'object'),
    rollback_reason text,
    started_at timestamptz,
    ended_at timestamptz,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, canary_deployment_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    foreign key (tenant_id, agent_id, candidate_prompt_version_id)
    references prompt_versions (tenant_id, agent_id, prompt_version_id),
    foreign key (tenant_id, agent_id, baseline_prompt_version_id)
    references prompt_versions (tenant_id, agent_id, prompt_version_id),
    foreign key (tenant_id, improvement_proposal_id)
    references improvement_proposals (tenant_id, improvement_proposal_id)
    on delete set null (improvement_proposal_id),
    check (candidate_prompt_version_id <> baseline_prompt_version_id),
    check (status <> 'rolled_back' or rollback_reason is not null),
    check (status = 'pending' or started_at is not null),
    check ((status in ('promoted', 'rolled_back', 'aborted')) = (ended_at is not null)),
    check (ended_at >= started_at)
);
create unique index canary_deployments_live_agent_key on canary_deployments (tenant_id, agent_id)
where status in ('pending', 'running');
create index canary_deployments_agent_idx on canary_deployments (tenant_id, agent_id, created_at desc);
create index canary_deployments_status_idx on canary_deployments (tenant_id, status);
select app.enable_tenant_rls('canary_deployments');
create trigger canary_deployments_touch before update on canary_deployments
for each row execute function app.touch_updated_at();
grant select, insert, update on canary_deployments to meta_agent_app;

-- A stage is passed once it has held for min_duration_seconds and seen min_executions with
-- the guardrails intact.
create table canary_stages (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    canary_deployment_id uuid not null,
    stage_index integer not null check (stage_index >= 0),
    traffic_percent numeric(5, 2) not null check (traffic_percent > 0 and traffic_percent <= 100),
    min_duration_seconds integer not null default 0 check (min_duration_seconds >= 0),
    min_executions integer not null default 0 check (min_executions >= 0),
    entered_at timestamptz,
    passed_at timestamptz,
    metrics jsonb not null default '{}'::jsonb check (jsonb_typeof(metrics) = 'object'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, canary_deployment_id, stage_index),
    foreign key (tenant_id, canary_deployment_id)
    references canary_deployments (tenant_id, canary_deployment_id) on delete cascade,
    check (passed_at is null or passed_at >= entered_at),
    check (passed_at is null or entered_at is not null)
);
select app.enable_tenant_rls('canary_stages');
create trigger canary_stages_touch before update on canary_stages
for each row execute function app.touch_updated_at();
grant select, insert, update on canary_stages to meta_agent_app;

-- Anytime-valid: the test may be looked at after every batch and stopped as soon as the
-- evidence is there (method 'msprt' = mixture SPRT; method_params holds e.g. its mixing
-- variance) without inflating the false-positive rate above alpha. One running test per
-- agent, since the routing table assigns a variant per agent.
create table ab_tests (
    ab_test_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid not null,
    name text not null check (length(name) between 1 and 200),
    control_prompt_version_id uuid not null,
    treatment_prompt_version_id uuid not null,
    improvement_proposal_id uuid,
    -- share of units assigned to the treatment
    traffic_split double precision not null default 0.5 check (traffic_split > 0 and traffic_split < 1),
    primary_metric text not null default 'success_rate'
        check (primary_metric in ('success_rate', 'latency_ms', 'cost_usd', 'judge_score')),
    alpha double precision not null default 0.05 check (alpha > 0 and alpha < 1),
    method text not null default 'msprt' check (method in ('msprt', 'e_process', 'confidence_sequence')),
    method_params jsonb not null default '{}'::jsonb check (jsonb_typeof(method_params) = 'object'),
    -- per variant, before any decision is taken
    min_samples integer not null default 100 check (min_samples > 0),
    status text not null default 'draft' check (status in ('draft', 'running', 'completed', 'aborted')),
    decision text check (decision in ('treatment_better', 'control_better', 'inconclusive')),
    decided_at timestamptz,
    started_at timestamptz,
    ended_at timestamptz,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, ab_test_id),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    foreign key (tenant_id, agent_id, control_prompt_version_id)
    references prompt_versions (tenant_id, agent_id, prompt_version_id),
    foreign key (tenant_id, agent_id, treatment_prompt_version_id)
    references prompt_versions (tenant_id, agent_id, prompt_version_id),
    foreign key (tenant_id, improvement_proposal_id)
    references improvement_proposals (tenant_id, improvement_proposal_id)
    on delete set null (improvement_proposal_id),
    check (control_prompt_version_id <> treatment_prompt_version_id),
    check (status = 'draft' or started_at is not null),
    check ((status in ('completed', 'aborted')) = (ended_at is not null)),
    check (ended_at >= started_at),
    check ((decision is null) = (decided_at is null)),
    check (status <> 'completed' or decision is not null)
);
create unique index ab_tests_running_agent_key on ab_tests (tenant_id, agent_id) where status = 'running';
create index ab_tests_agent_idx on ab_tests (tenant_id, agent_id, created_at desc);
create index ab_tests_status_idx on ab_tests (tenant_id, status);
select app.enable_tenant_rls('ab_tests');
create trigger ab_tests_touch before update on ab_tests
for each row execute function app.touch_updated_at();
grant select, insert, update on ab_tests to meta_agent_app;

-- Sticky assignment: the first variant a unit gets is the one it keeps, hence insert-only.
-- unit_key is a hex digest of the session or user id, never the id itself (no personal data).
create table ab_test_assignments (
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    ab_test_id uuid not null,
    unit_key text not null check (unit_key ~ '^[0-9a-f]{16,128}$'),
    unit_kind text not null default 'session' check (unit_kind in ('session', 'user')),
    variant text not null check (variant in ('control', 'treatment')),
    assigned_at timestamptz not null default now(),
    primary key (ab_test_id, unit_key),
    foreign key (tenant_id, ab_test_id) references ab_tests (tenant_id, ab_test_id) on delete cascade
);
create index ab_test_assignments_variant_idx on ab_test_assignments (tenant_id, ab_test_id, variant);
select app.enable_tenant_rls('ab_test_assignments');
grant select, insert on ab_test_assignments to meta_agent_app;

-- One row per analysis run and variant. e_value / p_value and the confidence-sequence bounds
-- describe the treatment − control effect, so the control row may leave them NULL.
create table ab_test_results (
    ab_test_result_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    ab_test_id uuid not null,
    computed_at timestamptz not null,
    variant text not null check (variant in ('control', 'treatment')),
    n bigint not null check (n >= 0),
    successes bigint check (successes between 0 and n),
    mean double precision,
    variance double precision check (variance >= 0),
    e_value double precision check (e_value >= 0),
    p_value double precision check (p_value between 0 and 1),
    confidence_lower double precision,
    confidence_upper double precision,
    decision text not null default 'continue'
        check (decision in ('continue', 'treatment_better', 'control_better', 'inconclusive')),
    created_at timestamptz not null default now(),
    unique (ab_test_id, computed_at, variant),
    foreign key (tenant_id, ab_test_id) references ab_tests (tenant_id, ab_test_id) on delete cascade,
    check (confidence_lower <= confidence_upper)
);
create index ab_test_results_test_idx on ab_test_results (tenant_id, ab_test_id, computed_at desc);
select app.enable_tenant_rls('ab_test_results');
grant select on ab_test_results to meta_agent_app;

-- The knowledge base the closed loop ends in and later proposals cite
-- (improvement_proposals.cites_learning_ids). source_id points at a row of the table that
-- source_kind names; being polymorphic it is not a foreign key.
create table learnings (
    learning_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    agent_id uuid,
    title text not null check (length(title) between 1 and 500),
    body text not null check (length(body) > 0),
    tags text [] not null default '{}',
    source_kind text not null check (
        source_kind in (
            'ab_test', 'canary_deployment', 'shadow_test', 'root_cause_analysis',
            'improvement_proposal', 'evaluation_report', 'manual'
        )
    ),
    source_id uuid,
    evidence jsonb not null default '{}'::jsonb check (jsonb_typeof(evidence) = 'object'),
    created_by text not null check (length(created_by) between 1 and 200),
    embedding vector (384),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    foreign key (tenant_id, agent_id) references agents (tenant_id, agent_id) on delete cascade,
    check (source_kind = 'manual' or source_id is not null)
);
create index learnings_agent_idx on learnings (tenant_id, agent_id, created_at desc);
create index learnings_source_idx on learnings (tenant_id, source_kind, source_id);
create index learnings_tags_idx on learnings using gin (tags);
create index learnings_embedding_hnsw_idx on learnings using hnsw (embedding vector_cosine_ops);
select app.enable_tenant_rls('learnings');
create trigger learnings_touch before update on learnings
for each row execute function app.touch_updated_at();
grant select, insert, update on learnings to meta_agent_app;

-- One row per component name: an edit replaces the body and bumps version, so prompts that
-- compose components by name always get the current one.
create table prompt_library_components (
    prompt_library_component_id uuid primary key default gen_random_uuid(),
    tenant_id uuid not null references tenants (tenant_id) on delete cascade,
    name text not null check (length(name) between 1 and 200),
    kind text not null check (kind in ('system', 'instruction', 'example', 'guardrail', 'format')),
    body text not null check (length(body) > 0),
    version integer not null default 1 check (version > 0),
    tags text [] not null default '{}',
    usage_count bigint not null default 0 check (usage_count >= 0),
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    unique (tenant_id, name)
);
create index prompt_library_components_kind_idx on prompt_library_components (tenant_id, kind, name);
create index prompt_library_components_tags_idx on prompt_library_components using gin (tags);
select app.enable_tenant_rls('prompt_library_components');
create trigger prompt_library_components_touch before update on prompt_library_components
for each row execute function app.touch_updated_at();
grant select, insert, update on prompt_library_components to meta_agent_app;
