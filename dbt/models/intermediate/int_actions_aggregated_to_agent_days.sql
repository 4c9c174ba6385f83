{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='execution_date',
        incremental_predicates=replaced_days('execution_date'),
        on_schema_change='sync_all_columns',
        pre_hook="{{ prefer_hash_plans(allow_sort=false) }}",
    )
}}

-- The one pass over a day's actions: each action joined to its execution and counted per
-- agent, day, prompt version, experiment variant, execution model and action model. Every
-- grain the marts need is a sum of these rows.
-- An execution's actions are those that start on the UTC day it started or the next one:
-- executions outlive midnight, so actions are read up to a day past the window; and the
-- bound is the execution's day, not the window's, so a day counts the same actions whether
-- it is built alone or inside a longer window.
-- The grouping columns are plain columns on purpose: the planner estimates the number of
-- groups from their statistics, and an expression here (say the model an LLM call is charged
-- to) makes it expect millions of groups and sort 4 million rows instead of hashing them.

with

actions as (
    select * from {{ ref('stg_raw__actions') }}
    where {{ partition_window('started_at', lookahead_days=1) }}
),

executions as (
    select
        *,
        execution_date::timestamp at time zone 'UTC' as own_actions_from,
        (execution_date + 2)::timestamp at time zone 'UTC' as own_actions_until
    from {{ ref('stg_raw__executions') }}
    where {{ partition_window('started_at') }}
),

attributed as (
    select
        executions.tenant_id,
        executions.agent_id,
        executions.execution_date,
        executions.prompt_version_id,
        executions.experiment_id,
        executions.experiment_variant,
        actions.action_type,
        actions.action_status,
        actions.input_tokens,
        actions.output_tokens,
        actions.cost_usd,
        executions.model_name as execution_model_name,
        actions.model_name as action_model_name

    from actions
    inner join executions
        on
            actions.tenant_id = executions.tenant_id
            and actions.execution_id = executions.execution_id
            and actions.started_at >= executions.own_actions_from
            and actions.started_at < executions.own_actions_until
),

aggregated as (
    select
        tenant_id,
        agent_id,
        execution_date,
        prompt_version_id,
        experiment_id,
        experiment_variant,
        execution_model_name,
        action_model_name,
        -- the `error` event marks an execution's death; it is not a step the agent took
        count(*) filter (where action_type != 'error') as action_count,
        count(*) filter (where action_type = 'tool_call') as tool_call_count,
        count(*) filter (
            where action_type = 'tool_call' and action_status != 'success'
        ) as failed_tool_call_count,
        count(*) filter (
            where action_type = 'llm_inference'
        ) as llm_call_count,
        count(*) filter (
            where action_type = 'llm_inference' and action_status != 'success'
        ) as failed_llm_call_count,
        count(*) filter (
            where action_type = 'human_intervention'
        ) as human_intervention_count,
        coalesce(
            sum(input_tokens) filter (where action_type = 'llm_inference'), 0
        )::bigint as llm_input_tokens,
        coalesce(
            sum(output_tokens) filter (where action_type = 'llm_inference'), 0
        )::bigint as llm_output_tokens,
        coalesce(
            sum(cost_usd) filter (where action_type = 'llm_inference'), 0
        )::numeric(20, 8) as llm_cost_usd

    from attributed
    group by
        tenant_id,
        agent_id,
        execution_date,
        prompt_version_id,
        experiment_id,
        experiment_variant,
        execution_model_name,
        action_model_name
)

select * from aggregated
