{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='execution_date',
        incremental_predicates=replaced_days('execution_date'),
        on_schema_change='sync_all_columns',
        pre_hook="{{ prefer_hash_plans() }}",
    )
}}

-- The metrics of a day's executions at the two grains the marts report, in one pass: per
-- agent and day, and per agent, day, prompt version and experiment variant. GROUPING SETS
-- sort the day's executions once for both, which matters for the percentiles: each grain
-- computed on its own would sort a million durations again.
-- is_variant_grain tells the two apart; on agent-grain rows the variant columns are NULL.

with

executions as (
    select * from {{ ref('int_executions_enriched') }}
),

aggregated as (
    select
        tenant_id,
        agent_id,
        execution_date,
        prompt_version_id,
        experiment_id,
        experiment_variant,
        grouping(prompt_version_id, experiment_id, experiment_variant) = 0 as is_variant_grain,
        {{ execution_metric_aggregates() }}

    from executions
    group by grouping sets (
        (tenant_id, agent_id, execution_date),
        (
            tenant_id,
            agent_id,
            execution_date,
            prompt_version_id,
            experiment_id,
            experiment_variant
        )
    )
)

select * from aggregated
