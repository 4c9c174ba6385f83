{{
    config(
        unique_key='execution_date',
        incremental_predicates=replaced_days('execution_date'),
        indexes=[{'columns': ['execution_date']}, {'columns': ['tenant_id', 'agent_id', 'started_at']}],
        pre_hook="{{ prefer_hash_plans() }}",
    )
}}

-- One row per failed execution (failure or timeout), with what the embedding and clustering
-- assets need: where it failed, with what, under which prompt and model, and excerpts of its
-- input and output. Executions' metadata is left out on purpose: the simulator writes its
-- ground-truth fault label there, which clustering must never see.

with

failed_executions as (
    select * from {{ ref('int_executions_enriched') }}
    where is_failure
),

failed_actions as (
    select * from {{ ref('stg_raw__actions') }}
    where
        {{ partition_window('started_at', lookahead_days=1) }}
        and action_status != 'success'
        and action_type != 'error'
),

agents as (
    select * from {{ ref('stg_operational__agents') }}
),

prompt_versions as (
    select * from {{ ref('stg_operational__prompt_versions') }}
),

-- the failing action is the last failed step of the execution (among the actions of its day
-- and the next, as everywhere): a retried step fails again later, and a wrapper step (a tool
-- whose LLM child failed) starts before the child that failed
ranked_failed_actions as (
    select
        failed_actions.tenant_id,
        failed_actions.execution_id,
        failed_actions.action_id,
        failed_actions.action_type,
        failed_actions.action_name,
        failed_actions.error_type,
        failed_actions.error_message,
        row_number() over (
            partition by failed_actions.tenant_id, failed_actions.execution_id
            order by
                failed_actions.started_at desc,
                failed_actions.action_sequence desc,
                failed_actions.action_id desc
        ) as recency_rank

    from failed_actions
    inner join failed_executions
        on
            failed_actions.tenant_id = failed_executions.tenant_id
            and failed_actions.execution_id = failed_executions.execution_id
            and failed_actions.started_at
            >= failed_executions.execution_date::timestamp at time zone 'UTC'
            and failed_actions.started_at
            < (failed_executions.execution_date + 2)::timestamp at time zone 'UTC'
),

failing_actions as (
    select * from ranked_failed_actions
    where recency_rank = 1
),

final as (
    select
        failed_executions.execution_id,
        failed_executions.tenant_id,
        failed_executions.agent_id,
        agents.agent_name,
        failed_executions.session_id,
        failed_executions.trace_id,
        failed_executions.prompt_version_id,
        prompt_versions.prompt_version_number,
        failed_executions.experiment_id,
        failed_executions.experiment_variant,
        failed_executions.model_name,
        failed_executions.execution_status,
        failed_executions.error_type,
        failed_executions.error_message,
        failed_executions.cause_category,
        failed_executions.is_availability_failure,
        failing_actions.action_id as failing_action_id,
        failing_actions.action_type as failing_action_type,
        failing_actions.action_name as failing_action_name,
        failing_actions.error_type as failing_action_error_type,
        failing_actions.error_message as failing_action_error_message,
        failed_executions.duration_ms,
        failed_executions.cost_usd,
        failed_executions.execution_date,
        failed_executions.started_at,
        failed_executions.ended_at,
        left(failed_executions.input_payload::text, 1000) as input_excerpt,
        left(failed_executions.output_payload::text, 1000) as output_excerpt

    from failed_executions
    left join failing_actions
        on
            failed_executions.tenant_id = failing_actions.tenant_id
            and failed_executions.execution_id = failing_actions.execution_id
    left join agents
        on failed_executions.agent_id = agents.agent_id
    left join prompt_versions
        on failed_executions.prompt_version_id = prompt_versions.prompt_version_id
)

select * from final
