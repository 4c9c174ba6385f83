{{
    config(
        unique_key='execution_date',
        incremental_predicates=replaced_days('execution_date'),
    )
}}

-- agent_daily_metrics split by the prompt version and experiment variant that served each
-- execution. Executions outside any experiment have NULL experiment_id and variant, hence
-- the null-safe joins.

with

execution_metrics as (
    select * from {{ ref('int_executions_aggregated_to_agent_days') }}
    where {{ date_window('execution_date') }} and is_variant_grain
),

action_counts as (
    select * from {{ ref('int_actions_aggregated_to_agent_days') }}
    where {{ date_window('execution_date') }}
),

prompt_versions as (
    select * from {{ ref('stg_operational__prompt_versions') }}
),

action_metrics as (
    select
        tenant_id,
        agent_id,
        execution_date,
        prompt_version_id,
        experiment_id,
        experiment_variant,
        {{ action_metric_aggregates() }}

    from action_counts
    group by
        tenant_id,
        agent_id,
        execution_date,
        prompt_version_id,
        experiment_id,
        experiment_variant
),

final as (
    select
        execution_metrics.tenant_id,
        execution_metrics.agent_id,
        execution_metrics.execution_date,
        execution_metrics.prompt_version_id,
        prompt_versions.prompt_version_number,
        execution_metrics.experiment_id,
        execution_metrics.experiment_variant,
        {{ metric_columns('execution_metrics', 'action_metrics') }}

    from execution_metrics
    left join action_metrics
        on
            execution_metrics.tenant_id = action_metrics.tenant_id
            and execution_metrics.agent_id = action_metrics.agent_id
            and execution_metrics.execution_date = action_metrics.execution_date
            and execution_metrics.prompt_version_id
            is not distinct from action_metrics.prompt_version_id
            and execution_metrics.experiment_id
            is not distinct from action_metrics.experiment_id
            and execution_metrics.experiment_variant
            is not distinct from action_metrics.experiment_variant
    left join prompt_versions
        on execution_metrics.prompt_version_id = prompt_versions.prompt_version_id
)

select * from final
