{{
    config(
        unique_key='execution_date',
        incremental_predicates=replaced_days('execution_date'),
    )
}}

-- What the failed executions of each agent and day failed with: counts per error type, its
-- cause category (seed error_cause_categories), and shares of the day's failures and
-- executions.

with

failed_executions as (
    select * from {{ ref('int_executions_enriched') }}
    where is_failure
),

daily_totals as (
    select * from {{ ref('int_executions_aggregated_to_agent_days') }}
    where {{ date_window('execution_date') }} and not is_variant_grain
),

failures_by_error as (
    select
        tenant_id,
        agent_id,
        execution_date,
        cause_category,
        coalesce(error_type, 'unspecified') as error_type,
        count(*) as failure_count,
        count(*) filter (where execution_status = 'timeout') as timeout_count,
        count(*) filter (where is_availability_failure) as availability_failure_count

    from failed_executions
    group by
        tenant_id,
        agent_id,
        execution_date,
        cause_category,
        coalesce(error_type, 'unspecified')
),

final as (
    select
        failures_by_error.tenant_id,
        failures_by_error.agent_id,
        failures_by_error.execution_date,
        failures_by_error.error_type,
        failures_by_error.cause_category,
        failures_by_error.failure_count,
        failures_by_error.timeout_count,
        failures_by_error.availability_failure_count,
        {{ ratio('failures_by_error.failure_count', 'daily_totals.failure_count') }}
            as share_of_failures,
        {{ ratio('failures_by_error.failure_count', 'daily_totals.execution_count') }}
            as share_of_executions

    from failures_by_error
    inner join daily_totals
        on
            failures_by_error.tenant_id = daily_totals.tenant_id
            and failures_by_error.agent_id = daily_totals.agent_id
            and failures_by_error.execution_date = daily_totals.execution_date
)

select * from final
