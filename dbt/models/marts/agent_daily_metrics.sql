{{
    config(
        unique_key='execution_date',
        incremental_predicates=replaced_days('execution_date'),
    )
}}

with

execution_metrics as (
    select * from {{ ref('int_executions_aggregated_to_agent_days') }}
    where {{ date_window('execution_date') }} and not is_variant_grain
),

action_counts as (
    select * from {{ ref('int_actions_aggregated_to_agent_days') }}
    where {{ date_window('execution_date') }}
),

agents as (
    select * from {{ ref('stg_operational__agents') }}
),

action_metrics as (
    select
        tenant_id,
        agent_id,
        execution_date,
        {{ action_metric_aggregates() }}

    from action_counts
    group by tenant_id, agent_id, execution_date
),

final as (
    select
        execution_metrics.tenant_id,
        execution_metrics.agent_id,
        agents.agent_name,
        execution_metrics.execution_date,
        {{ metric_columns('execution_metrics', 'action_metrics') }}

    from execution_metrics
    left join action_metrics
        on
            execution_metrics.tenant_id = action_metrics.tenant_id
            and execution_metrics.agent_id = action_metrics.agent_id
            and execution_metrics.execution_date = action_metrics.execution_date
    left join agents
        on execution_metrics.agent_id = agents.agent_id
)

select * from final
