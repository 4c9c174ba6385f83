{{
    config(
        unique_key='execution_date',
        incremental_predicates=replaced_days('execution_date'),
    )
}}

-- LLM spend per agent, model and day, from the llm_inference actions of the executions that
-- started that day. An action that names no model is charged to its execution's model.

with

action_counts as (
    select * from {{ ref('int_actions_aggregated_to_agent_days') }}
    where {{ date_window('execution_date') }} and llm_call_count > 0
),

charged as (
    select
        *,
        coalesce(action_model_name, execution_model_name, 'unknown') as model_name
    from action_counts
),

aggregated as (
    select
        tenant_id,
        agent_id,
        execution_date,
        model_name,
        sum(llm_call_count)::bigint as llm_call_count,
        sum(failed_llm_call_count)::bigint as failed_llm_call_count,
        sum(llm_input_tokens)::bigint as input_tokens,
        sum(llm_output_tokens)::bigint as output_tokens,
        sum(llm_cost_usd)::numeric(20, 8) as cost_usd

    from charged
    group by tenant_id, agent_id, execution_date, model_name
),

with_agent_totals as (
    select
        *,
        sum(cost_usd) over (partition by tenant_id, agent_id, execution_date) as agent_cost_usd
    from aggregated
),

final as (
    select
        tenant_id,
        agent_id,
        execution_date,
        model_name,
        llm_call_count,
        failed_llm_call_count,
        input_tokens,
        output_tokens,
        cost_usd,
        {{ ratio('cost_usd', 'llm_call_count') }} as cost_per_llm_call_usd,
        {{ ratio('cost_usd', 'agent_cost_usd') }} as share_of_agent_cost

    from with_agent_totals
)

select * from final
