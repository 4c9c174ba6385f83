-- The executions of the run's window with their outcome flags, the cause category of their
-- error (seed error_cause_categories) and whether a person stepped in. Ephemeral: each
-- model that needs it reads the day's partition once, with its own filter pushed down.

with

executions as (
    select * from {{ ref('stg_raw__executions') }}
    where {{ partition_window('started_at') }}
),

-- few rows, found through the (tenant_id, action_type, started_at) index. An execution's
-- actions are those that start on its day or the next (see int_actions_aggregated_to_agent_days),
-- hence a day past the window, and the days each execution's interventions fell on.
intervention_actions as (
    select
        tenant_id,
        execution_id,
        (started_at at time zone 'UTC')::date as intervention_date
    from {{ ref('stg_raw__actions') }}
    where
        {{ partition_window('started_at', lookahead_days=1) }}
        and action_type = 'human_intervention'
),

human_interventions as (
    select
        tenant_id,
        execution_id,
        array_agg(intervention_date) as intervention_dates
    from intervention_actions
    group by tenant_id, execution_id
),

error_cause_categories as (
    select * from {{ ref('error_cause_categories') }}
),

enriched as (
    select
        executions.execution_id,
        executions.tenant_id,
        executions.agent_id,
        executions.session_id,
        executions.trace_id,
        executions.prompt_version_id,
        executions.experiment_id,
        executions.experiment_variant,
        executions.model_name,
        executions.execution_status,
        executions.error_type,
        executions.error_message,
        executions.duration_ms,
        executions.input_tokens,
        executions.output_tokens,
        executions.cost_usd,
        executions.input_payload,
        executions.output_payload,
        executions.execution_date,
        executions.started_at,
        executions.ended_at,
        executions.execution_status = 'success' as is_success,
        executions.execution_status in ('failure', 'timeout') as is_failure,
        -- success rate and availability are over decided executions: neither still running
        -- nor cancelled by their caller
        executions.execution_status in ('success', 'failure', 'timeout') as is_decided,
        case
            when executions.execution_status in ('failure', 'timeout')
                then coalesce(error_cause_categories.cause_category, 'unknown')
        end as cause_category,
        executions.execution_status = 'timeout'
        or (
            executions.execution_status = 'failure'
            and coalesce(error_cause_categories.counts_against_availability, false)
        ) as is_availability_failure,
        human_interventions.execution_id is not null as has_human_intervention

    from executions
    left join human_interventions
        on
            executions.tenant_id = human_interventions.tenant_id
            and executions.execution_id = human_interventions.execution_id
            and human_interventions.intervention_dates
            && array[executions.execution_date, executions.execution_date + 1]
    left join error_cause_categories
        on executions.error_type = error_cause_categories.error_type
)

select * from enriched
