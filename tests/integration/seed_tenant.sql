-- One row for one tenant in every table that has a tenant_id, satisfying every foreign key
-- and CHECK constraint. Run as the owner role (BYPASSRLS), as a single string, after
-- replacing the placeholder :tenant_id with a quoted uuid literal. Ids are generated and
-- looked up by name inside the tenant, so the script runs for many tenants in one database.

insert into tenants (tenant_id, name, unknown_agent_policy, settings)
values (:tenant_id::uuid, 'tenant-' || :tenant_id, 'register', '{"timezone": "UTC"}');

insert into api_keys (tenant_id, name, prefix, key_hash, scopes, created_by, expires_at)
values (
    :tenant_id::uuid, 'seed', 'ma_seed',
    sha256(convert_to('seed-key-' || :tenant_id, 'UTF8')),
    array['ingest', 'read'], 'seed', timestamptz '2027-01-01 00:00:00+00'
);

insert into agents (tenant_id, name, kind, owner, description, config, tags, sla_p95_ms)
values
    (:tenant_id::uuid, 'seed-writer', 'writer', 'team-a', 'writes drafts', '{"temperature": 0.2}',
     array['content', 'seed'], 2000),
    (:tenant_id::uuid, 'seed-reviewer', 'assistant', null, '', '{}', '{}', null);

insert into agent_dependencies (tenant_id, upstream_agent_id, downstream_agent_id, kind)
select :tenant_id::uuid, up.agent_id, down.agent_id, 'feeds'
from agents as up
join agents as down on down.tenant_id = up.tenant_id and down.name = 'seed-reviewer'
where up.tenant_id = :tenant_id::uuid and up.name = 'seed-writer';

-- the writer's current version and a candidate derived from it
insert into prompt_versions (tenant_id, agent_id, version, template, variables, model, status)
select :tenant_id::uuid, agent_id, 1, 'Write about {topic}.', array['topic'], 'claude-sonnet', 'active'
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into prompt_versions (
    tenant_id, agent_id, version, parent_version_id, template, variables, status, source, author
)
select :tenant_id::uuid, agent_id, 2, prompt_version_id, 'Write clearly about {topic}.',
    array['topic'], 'candidate', 'proposal', 'meta-agent'
from prompt_versions where tenant_id = :tenant_id::uuid and version = 1;

update agents as a set current_prompt_version_id = pv.prompt_version_id
from prompt_versions as pv
where pv.tenant_id = a.tenant_id and pv.agent_id = a.agent_id and pv.version = 1
  and a.tenant_id = :tenant_id::uuid;

select app.ensure_daily_partitions('raw.executions'::regclass, date '2026-01-01', date '2026-01-02');
select app.ensure_daily_partitions('raw.actions'::regclass, date '2026-01-01', date '2026-01-02');

with execution as (
    insert into raw.executions (
        execution_id, tenant_id, agent_id, started_at, ended_at, duration_ms, status, session_id,
        trace_id, prompt_version_id, model, input_tokens, output_tokens, cost_usd, error_type,
        error_message, input, output, metadata, sdk_version
    )
    select gen_random_uuid(), :tenant_id::uuid, a.agent_id,
        timestamptz '2026-01-01 10:00:00+00', timestamptz '2026-01-01 10:00:01.5+00', 1500,
        'failure', 'session-1', 'trace-1', a.current_prompt_version_id, 'claude-sonnet', 120, 0,
        0.0012, 'ToolTimeout', 'search tool timed out', '{"topic": "tides"}', null,
        '{"region": "eu"}', '0.1.0'
    from agents as a where a.tenant_id = :tenant_id::uuid and a.name = 'seed-writer'
    returning execution_id, agent_id, started_at
)
insert into raw.actions (
    action_id, tenant_id, execution_id, agent_id, sequence, action_type, name, started_at,
    ended_at, duration_ms, status, error_type, input, attributes
)
select gen_random_uuid(), :tenant_id::uuid, execution_id, agent_id, 0, 'tool_call', 'search',
    started_at, started_at + interval '1 second', 1000, 'timeout', 'ToolTimeout',
    '["tides"]', '{"tool": "search"}'
from execution;

insert into simulated_faults (tenant_id, agent_id, fault_kind, started_at, ended_at, details, seed)
select :tenant_id::uuid, agent_id, 'tool_timeout_storm', timestamptz '2026-01-01 09:00:00+00',
    timestamptz '2026-01-01 11:00:00+00', '{"tool": "search"}', 42
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

-- realtime
insert into agent_health_realtime (
    tenant_id, agent_id, state, executions_5m, failures_5m, error_rate_5m, latency_p50_ms_5m,
    latency_p95_ms_5m, latency_p99_ms_5m, cost_usd_5m, executions_1h, failures_1h,
    error_rate_1h, consecutive_failures, last_execution_at, reason
)
select :tenant_id::uuid, agent_id, 'degraded', 10, 3, 0.3, 800, 1500, 1900, 0.012, 100, 6,
    0.06, 2, timestamptz '2026-01-01 10:00:01.5+00', 'error rate above 0.2'
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into agent_health_transitions (tenant_id, agent_id, from_state, to_state, reason, metrics)
select :tenant_id::uuid, agent_id, 'healthy', 'degraded', 'error rate above 0.2',
    '{"error_rate_5m": 0.3}'
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into agent_health_thresholds (
    tenant_id, agent_id, error_rate_degraded, error_rate_critical, consecutive_failures_degraded,
    consecutive_failures_critical, hysteresis_ratio, hysteresis_min_seconds, updated_by
)
select :tenant_id::uuid, agent_id, 0.2, 0.5, 3, 10, 0.8, 60, 'seed'
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into circuit_breaker_configs (tenant_id, agent_id, consecutive_failures_threshold, updated_by)
select :tenant_id::uuid, agent_id, 5, 'seed'
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into circuit_breaker_states (tenant_id, agent_id, state, opened_at, open_until, version)
select :tenant_id::uuid, agent_id, 'open', now(), now() + interval '30 seconds', 1
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into circuit_breaker_events (
    tenant_id, agent_id, from_state, to_state, cause, actor, metrics, version
)
select :tenant_id::uuid, agent_id, 'closed', 'open', 'failure_rate', 'realtime',
    '{"failure_rate": 0.6}', 1
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

-- alerting
insert into notification_channels (tenant_id, kind, name, supports_digest, config, secret_env_var)
values (:tenant_id::uuid, 'slack', 'ops', true, '{"channel": "#ops"}', 'METAAGENT_SECRET_SLACK_OPS');

insert into alert_routing_rules (
    tenant_id, notification_channel_id, name, agent_id, alert_types, priority, created_by
)
select :tenant_id::uuid, c.notification_channel_id, 'writer errors', a.agent_id,
    array['error_rate_spike', 'circuit_opened'], 10, 'seed'
from notification_channels as c
join agents as a on a.tenant_id = c.tenant_id and a.name = 'seed-writer'
where c.tenant_id = :tenant_id::uuid and c.name = 'ops';

insert into alerts (tenant_id, agent_id, alert_type, severity, fingerprint, title, labels, details)
select :tenant_id::uuid, agent_id, 'error_rate_spike', 'warning', 'error_rate_spike:seed-writer',
    'seed-writer error rate 30 percent', '{"agent": "seed-writer"}', '{"error_rate_5m": 0.3}'
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into alert_deliveries (
    tenant_id, alert_id, notification_channel_id, state_change, status, attempts, response_code,
    external_ref, sent_at
)
select :tenant_id::uuid, al.alert_id, c.notification_channel_id, 'opened', 'sent', 1, 200,
    '1767261601.000100', now()
from alerts as al
join notification_channels as c on c.tenant_id = al.tenant_id and c.name = 'ops'
where al.tenant_id = :tenant_id::uuid;

insert into alert_silences (tenant_id, matchers, ends_at, created_by, comment)
values (:tenant_id::uuid, '{"agent": "seed-reviewer"}', now() + interval '1 hour', 'seed',
    'maintenance');

-- warehouse and AI
insert into sla_definitions (
    tenant_id, agent_id, name, target_success_rate, target_p95_ms, max_cost_per_execution_usd,
    error_budget, created_by
)
select :tenant_id::uuid, agent_id, 'writer sla', 0.99, 2000, 0.05, 0.01, 'seed'
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into evaluation_reports (
    tenant_id, agent_id, period_start, period_end, engine, executions_evaluated, scores,
    summary, recommendations, dagster_run_id
)
select :tenant_id::uuid, agent_id, date '2026-01-01', date '2026-01-02', 'offline', 1,
    '{"quality": 0.7}', 'one failure', '["retry the search tool"]', 'run-1'
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into execution_embeddings (
    tenant_id, execution_id, started_at, agent_id, model, embedding, text_hash
)
select :tenant_id::uuid, execution_id, started_at, agent_id, 'all-MiniLM-L6-v2',
    array_fill(0.1::real, array[384])::vector, sha256(convert_to('search tool timed out', 'UTF8'))
from raw.executions where tenant_id = :tenant_id::uuid;

insert into failure_clusters (
    tenant_id, partition_date, agent_id, label, size, centroid, first_seen_at, last_seen_at,
    representative_execution_ids, algorithm, params
)
select :tenant_id::uuid, date '2026-01-01', agent_id, 'search tool timeouts', 1,
    array_fill(0.1::real, array[384])::vector, started_at, started_at, array[execution_id],
    'hdbscan', '{"min_cluster_size": 2}'
from raw.executions where tenant_id = :tenant_id::uuid;

insert into failure_cluster_members (
    tenant_id, failure_cluster_id, execution_id, started_at, agent_id, distance
)
select :tenant_id::uuid, fc.failure_cluster_id, e.execution_id, e.started_at, e.agent_id, 0
from failure_clusters as fc
join raw.executions as e on e.tenant_id = fc.tenant_id
where fc.tenant_id = :tenant_id::uuid;

insert into root_cause_analyses (
    tenant_id, failure_cluster_id, category, confidence, evidence, engine, summary
)
select :tenant_id::uuid, failure_cluster_id, 'tool_failure', 0.8, '{"error_type": "ToolTimeout"}',
    'offline', 'the search tool times out'
from failure_clusters where tenant_id = :tenant_id::uuid;

-- learnings first: the proposal cites one
insert into learnings (
    tenant_id, agent_id, title, body, tags, source_kind, evidence, created_by, embedding
)
select :tenant_id::uuid, agent_id, 'Retry flaky tools', 'Timeouts of the search tool pass on retry.',
    array['tools'], 'manual', '{}', 'seed', array_fill(0.1::real, array[384])::vector
from agents where tenant_id = :tenant_id::uuid and name = 'seed-writer';

insert into improvement_proposals (
    tenant_id, agent_id, root_cause_analysis_id, kind, title, rationale, payload, engine, status,
    decided_at, decision_reason, approval_policy, cites_learning_ids
)
select :tenant_id::uuid, a.agent_id, r.root_cause_analysis_id, 'prompt_change', 'Ask for retries',
    'timeouts pass on retry', '{"diff": "+ retry the search tool once"}', 'offline', 'approved',
    now(), 'low risk', 'auto-approve-prompt-changes', array[l.learning_id]
from agents as a
join root_cause_analyses as r on r.tenant_id = a.tenant_id
join learnings as l on l.tenant_id = a.tenant_id
where a.tenant_id = :tenant_id::uuid and a.name = 'seed-writer';

-- the safety rail: every experiment compares the writer's candidate (v2) with its current (v1)
insert into shadow_tests (
    tenant_id, agent_id, candidate_prompt_version_id, baseline_prompt_version_id,
    improvement_proposal_id, sample_rate, status, started_at, created_by
)
select :tenant_id::uuid, p.agent_id, v2.prompt_version_id, v1.prompt_version_id,
    p.improvement_proposal_id, 0.1, 'running', now(), 'seed'
from improvement_proposals as p
join prompt_versions as v1 on v1.tenant_id = p.tenant_id and v1.agent_id = p.agent_id and v1.version = 1
join prompt_versions as v2 on v2.tenant_id = p.tenant_id and v2.agent_id = p.agent_id and v2.version = 2
where p.tenant_id = :tenant_id::uuid;

insert into shadow_test_results (
    tenant_id, shadow_test_id, execution_id, started_at, candidate_outcome, candidate_latency_ms,
    candidate_cost_usd, candidate_score, baseline_score, judge
)
select :tenant_id::uuid, s.shadow_test_id, e.execution_id, e.started_at, 'success', 1200,
    0.0011, 0.8, 0.4, '{"engine": "offline"}'
from shadow_tests as s
join raw.executions as e on e.tenant_id = s.tenant_id
where s.tenant_id = :tenant_id::uuid;

insert into canary_deployments (
    tenant_id, agent_id, candidate_prompt_version_id, baseline_prompt_version_id,
    improvement_proposal_id, status, guardrails, started_at, created_by
)
select :tenant_id::uuid, agent_id, candidate_prompt_version_id, baseline_prompt_version_id,
    improvement_proposal_id, 'running', '{"max_error_rate": 0.1}', now(), 'seed'
from shadow_tests where tenant_id = :tenant_id::uuid;

insert into canary_stages (
    tenant_id, canary_deployment_id, stage_index, traffic_percent, min_duration_seconds,
    min_executions, entered_at
)
select :tenant_id::uuid, canary_deployment_id, 0, 5.00, 600, 50, now()
from canary_deployments where tenant_id = :tenant_id::uuid;

insert into ab_tests (
    tenant_id, agent_id, name, control_prompt_version_id, treatment_prompt_version_id,
    improvement_proposal_id, method_params, status, started_at, created_by
)
select :tenant_id::uuid, agent_id, 'retry prompt', baseline_prompt_version_id,
    candidate_prompt_version_id, improvement_proposal_id, '{"tau": 0.01}', 'running', now(), 'seed'
from shadow_tests where tenant_id = :tenant_id::uuid;

insert into ab_test_assignments (tenant_id, ab_test_id, unit_key, unit_kind, variant)
select :tenant_id::uuid, ab_test_id, encode(sha256(convert_to('session-1', 'UTF8')), 'hex'),
    'session', 'treatment'
from ab_tests where tenant_id = :tenant_id::uuid;

insert into ab_test_results (
    tenant_id, ab_test_id, computed_at, variant, n, successes, mean, variance, e_value, p_value,
    confidence_lower, confidence_upper
)
select :tenant_id::uuid, ab_test_id, now(), 'treatment', 10, 9, 0.9, 0.09, 1.5, 0.4, -0.1, 0.3
from ab_tests where tenant_id = :tenant_id::uuid;

insert into prompt_library_components (tenant_id, name, kind, body, tags, created_by)
values (:tenant_id::uuid, 'plain-tone', 'guardrail', 'Use plain words.', array['tone'], 'seed');

-- integrations and budgets
insert into integrations (tenant_id, kind, name, config, secret_ciphertext, created_by)
values (:tenant_id::uuid, 'n8n', 'workflows', '{"base_url": "https://n8n.example.com"}',
    '\x0a0b0c'::bytea, 'seed');

insert into webhook_subscriptions (
    tenant_id, integration_id, url, event_types, signing_secret_env_var, last_delivery_at,
    last_delivery_status, last_response_code
)
select :tenant_id::uuid, integration_id, 'https://n8n.example.com/webhook/metaagent',
    array['alert.opened', 'canary.rolled_back'], 'METAAGENT_SECRET_N8N_SIGNING', now(),
    'succeeded', 204
from integrations where tenant_id = :tenant_id::uuid and name = 'workflows';

insert into cost_budgets (tenant_id, agent_id, period, amount_usd, created_by)
values (:tenant_id::uuid, null, 'monthly', 100.00, 'seed');

-- the archive (raw.execution_hourly fills itself: a trigger counts the executions above)
insert into archive_manifest (
    table_name, tenant_id, day, part, schema_version, path, row_count, checksum, file_bytes,
    verified_at, dropped_at, removal
)
values ('executions', :tenant_id::uuid, date '2025-12-01', 0, 1,
    'v1/executions/tenant_id=' || :tenant_id || '/date=2025-12-01/part-0.parquet', 12,
    123456789, 4096, now(), now(), 'partition_dropped');
