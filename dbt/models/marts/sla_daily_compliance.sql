{{
    config(
        unique_key='execution_date',
        incremental_predicates=replaced_days('execution_date'),
    )
}}

-- Each agent's day against the SLA definition in force that day. See _marts.yml for the
-- definitions of availability, error budget and breach attribution.

with

daily_metrics as (
    select * from {{ ref('agent_daily_metrics') }}
    where {{ date_window('execution_date') }}
),

error_distribution as (
    select * from {{ ref('agent_error_distribution') }}
    where {{ date_window('execution_date') }}
),

sla_definitions as (
    select * from {{ ref('stg_operational__sla_definitions') }}
),

-- every definition in force at some moment of the day, for the agent or its whole tenant;
-- the agent's own definition comes first, then the one that took effect last
candidate_definitions as (
    select
        daily_metrics.tenant_id,
        daily_metrics.agent_id,
        daily_metrics.execution_date,
        sla_definitions.sla_definition_id,
        row_number() over (
            partition by
                daily_metrics.tenant_id, daily_metrics.agent_id, daily_metrics.execution_date
            order by
                sla_definitions.is_tenant_wide asc,
                sla_definitions.effective_from_at desc,
                sla_definitions.sla_definition_id asc
        ) as precedence

    from daily_metrics
    inner join sla_definitions
        on
            daily_metrics.tenant_id = sla_definitions.tenant_id
            and (
                daily_metrics.agent_id = sla_definitions.agent_id
                or sla_definitions.is_tenant_wide
            )
            and sla_definitions.effective_from_at
            < (daily_metrics.execution_date + 1)::timestamp at time zone 'UTC'
            and (
                sla_definitions.effective_to_at is null
                or sla_definitions.effective_to_at
                > daily_metrics.execution_date::timestamp at time zone 'UTC'
            )
),

category_failures as (
    select
        tenant_id,
        agent_id,
        execution_date,
        cause_category,
        sum(failure_count)::bigint as failure_count

    from error_distribution
    group by tenant_id, agent_id, execution_date, cause_category
),

top_categories as (
    select
        tenant_id,
        agent_id,
        execution_date,
        cause_category,
        failure_count,
        row_number() over (
            partition by tenant_id, agent_id, execution_date
            order by failure_count desc, cause_category asc
        ) as category_rank

    from category_failures
),

judged as (
    select
        daily_metrics.tenant_id,
        daily_metrics.agent_id,
        daily_metrics.execution_date,
        sla_definitions.sla_definition_id,
        sla_definitions.sla_name,
        sla_definitions.sla_period,
        sla_definitions.is_tenant_wide as is_tenant_wide_sla,
        daily_metrics.execution_count,
        daily_metrics.decided_execution_count,
        daily_metrics.failure_count,
        daily_metrics.success_rate,
        sla_definitions.target_success_rate,
        daily_metrics.latency_p95_ms,
        sla_definitions.target_p95_latency_ms,
        daily_metrics.availability,
        sla_definitions.target_availability,
        daily_metrics.cost_per_execution_usd,
        sla_definitions.max_cost_per_execution_usd,
        top_categories.cause_category as top_failure_category,
        top_categories.failure_count as top_failure_category_count,
        -- NULL: the SLA sets no such target, or the day has nothing to measure it on
        daily_metrics.success_rate >= sla_definitions.target_success_rate
            as is_success_rate_met,
        daily_metrics.latency_p95_ms <= sla_definitions.target_p95_latency_ms
            as is_p95_latency_met,
        daily_metrics.availability >= sla_definitions.target_availability
            as is_availability_met,
        daily_metrics.cost_per_execution_usd <= sla_definitions.max_cost_per_execution_usd
            as is_cost_per_execution_met,
        coalesce(sla_definitions.error_budget, 1 - sla_definitions.target_success_rate)
            as error_budget

    from daily_metrics
    inner join candidate_definitions
        on
            daily_metrics.tenant_id = candidate_definitions.tenant_id
            and daily_metrics.agent_id = candidate_definitions.agent_id
            and daily_metrics.execution_date = candidate_definitions.execution_date
            and candidate_definitions.precedence = 1
    inner join sla_definitions
        on candidate_definitions.sla_definition_id = sla_definitions.sla_definition_id
    left join top_categories
        on
            daily_metrics.tenant_id = top_categories.tenant_id
            and daily_metrics.agent_id = top_categories.agent_id
            and daily_metrics.execution_date = top_categories.execution_date
            and top_categories.category_rank = 1
),

budgeted as (
    select
        *,
        -- the day's failures over the failures its budget allows: 1.0 spends it all
        failure_count::double precision
        / nullif(error_budget * decided_execution_count, 0) as error_budget_consumed,
        -- in the order breaches are reported: what users feel first
        concat_ws(
            ',',
            case when not is_availability_met then 'availability' end,
            case when not is_success_rate_met then 'success_rate' end,
            case when not is_p95_latency_met then 'p95_latency' end,
            case when not is_cost_per_execution_met then 'cost_per_execution' end
        ) as breached_metric_list

    from judged
),

final as (
    select
        tenant_id,
        agent_id,
        execution_date,
        sla_definition_id,
        sla_name,
        sla_period,
        is_tenant_wide_sla,
        execution_count,
        decided_execution_count,
        failure_count,
        success_rate,
        target_success_rate,
        is_success_rate_met,
        latency_p95_ms,
        target_p95_latency_ms,
        is_p95_latency_met,
        availability,
        target_availability,
        is_availability_met,
        cost_per_execution_usd,
        max_cost_per_execution_usd,
        is_cost_per_execution_met,
        error_budget,
        error_budget_consumed,
        breached_metric_list = '' as is_compliant,
        nullif(breached_metric_list, '') as breached_metrics,
        nullif(split_part(breached_metric_list, ',', 1), '') as primary_breached_metric,
        case when breached_metric_list != '' then top_failure_category end
            as breach_top_failure_category,
        case when breached_metric_list != '' then top_failure_category_count end
            as breach_top_failure_category_count,
        error_budget_consumed >= 0.8 as is_at_risk,
        error_budget_consumed >= 1.0 as is_error_budget_exhausted

    from budgeted
)

select * from final
