{{
    config(
        unique_key=['period_granularity', 'period_start'],
        pre_hook="{{ lock_model() }}",
    )
}}

-- Weekly and monthly roll-ups of sla_daily_compliance for reports, with the trend against
-- the period before. A run rebuilds the periods its window touches and the period after
-- them (its trend compares against them), from the daily rows already built.

{% set window = period_window() %}

with

daily_compliance as (
    select * from {{ ref('sla_daily_compliance') }}
    {% if window.read_from is not none -%}
        where execution_date >= date '{{ window.read_from }}'
    {%- endif %}
),

granularities as (
    select 'week' as period_granularity
    union all
    select 'month' as period_granularity
),

daily_periods as (
    select
        daily_compliance.*,
        granularities.period_granularity,
        date_trunc(
            granularities.period_granularity, daily_compliance.execution_date::timestamp
        )::date as period_start

    from daily_compliance
    cross join granularities
),

period_totals as (
    select
        tenant_id,
        agent_id,
        period_granularity,
        period_start,
        (array_agg(sla_definition_id order by execution_date desc))[1] as sla_definition_id,
        count(*) as measured_day_count,
        count(*) filter (where is_compliant) as compliant_day_count,
        count(*) filter (where not is_compliant) as breached_day_count,
        count(*) filter (where not is_availability_met) as availability_breach_day_count,
        count(*) filter (where not is_success_rate_met) as success_rate_breach_day_count,
        count(*) filter (where not is_p95_latency_met) as p95_latency_breach_day_count,
        count(*) filter (
            where not is_cost_per_execution_met
        ) as cost_per_execution_breach_day_count,
        count(*) filter (where is_at_risk) as at_risk_day_count,
        sum(execution_count)::bigint as execution_count,
        sum(decided_execution_count)::bigint as decided_execution_count,
        sum(failure_count)::bigint as failure_count,
        sum(failure_count) filter (
            where error_budget is not null
        )::bigint as budgeted_failure_count,
        -- numeric, like every sum of floats here: the total must not depend on row order
        sum((error_budget * decided_execution_count)::numeric)::double precision
            as allowed_failure_count

    from daily_periods
    group by tenant_id, agent_id, period_granularity, period_start
),

with_previous as (
    select
        current_period.*,
        previous_period.availability_breach_day_count as previous_availability_breach_day_count,
        previous_period.success_rate_breach_day_count as previous_success_rate_breach_day_count,
        previous_period.p95_latency_breach_day_count as previous_p95_latency_breach_day_count,
        previous_period.cost_per_execution_breach_day_count
            as previous_cost_per_execution_breach_day_count,
        previous_period.measured_day_count as previous_measured_day_count,
        {{ ratio('current_period.breached_day_count', 'current_period.measured_day_count') }}
            as breach_rate,
        {{ ratio('previous_period.breached_day_count', 'previous_period.measured_day_count') }}
            as previous_breach_rate

    from period_totals as current_period
    left join period_totals as previous_period
        on
            current_period.tenant_id = previous_period.tenant_id
            and current_period.agent_id = previous_period.agent_id
            and current_period.period_granularity = previous_period.period_granularity
            and previous_period.period_start = (
                current_period.period_start - ('1 ' || current_period.period_granularity)::interval
            )::date
),

-- one row per period and SLA metric: how often it breached, now and in the period before
metric_breaches as (
    select
        with_previous.tenant_id,
        with_previous.agent_id,
        with_previous.period_granularity,
        with_previous.period_start,
        metrics.metric_name,
        metrics.metric_priority,
        metrics.breach_day_count,
        {{ ratio('metrics.breach_day_count', 'with_previous.measured_day_count') }}
        - {{ ratio(
            'metrics.previous_breach_day_count', 'with_previous.previous_measured_day_count'
        ) }} as breach_rate_change

    from with_previous
    cross join lateral (
        values
        (
            'availability', 1,
            with_previous.availability_breach_day_count,
            with_previous.previous_availability_breach_day_count
        ),
        (
            'success_rate', 2,
            with_previous.success_rate_breach_day_count,
            with_previous.previous_success_rate_breach_day_count
        ),
        (
            'p95_latency', 3,
            with_previous.p95_latency_breach_day_count,
            with_previous.previous_p95_latency_breach_day_count
        ),
        (
            'cost_per_execution', 4,
            with_previous.cost_per_execution_breach_day_count,
            with_previous.previous_cost_per_execution_breach_day_count
        )
    ) as metrics (metric_name, metric_priority, breach_day_count, previous_breach_day_count)
),

top_metrics as (
    select
        tenant_id,
        agent_id,
        period_granularity,
        period_start,
        metric_name,
        breach_day_count,
        breach_rate_change,
        row_number() over (
            partition by tenant_id, agent_id, period_granularity, period_start
            order by breach_day_count desc, metric_priority asc
        ) as breach_rank,
        row_number() over (
            partition by tenant_id, agent_id, period_granularity, period_start
            order by breach_rate_change desc nulls last, metric_priority asc
        ) as worsening_rank,
        row_number() over (
            partition by tenant_id, agent_id, period_granularity, period_start
            order by breach_rate_change asc nulls last, metric_priority asc
        ) as improving_rank

    from metric_breaches
),

trended as (
    select
        with_previous.*,
        most_breached.metric_name as top_breached_metric,
        case
            when with_previous.previous_breach_rate is null then 'no_previous_period'
            when with_previous.breach_rate > with_previous.previous_breach_rate then 'worsening'
            when with_previous.breach_rate < with_previous.previous_breach_rate then 'improving'
            else 'stable'
        end as breach_trend,
        case
            when with_previous.breach_rate > with_previous.previous_breach_rate
                then most_worsened.metric_name
            when with_previous.breach_rate < with_previous.previous_breach_rate
                then most_improved.metric_name
        end as trend_driver_metric

    from with_previous
    left join top_metrics as most_breached
        on
            with_previous.tenant_id = most_breached.tenant_id
            and with_previous.agent_id = most_breached.agent_id
            and with_previous.period_granularity = most_breached.period_granularity
            and with_previous.period_start = most_breached.period_start
            and most_breached.breach_rank = 1
            and most_breached.breach_day_count > 0
    left join top_metrics as most_worsened
        on
            with_previous.tenant_id = most_worsened.tenant_id
            and with_previous.agent_id = most_worsened.agent_id
            and with_previous.period_granularity = most_worsened.period_granularity
            and with_previous.period_start = most_worsened.period_start
            and most_worsened.worsening_rank = 1
            and most_worsened.breach_rate_change > 0
    left join top_metrics as most_improved
        on
            with_previous.tenant_id = most_improved.tenant_id
            and with_previous.agent_id = most_improved.agent_id
            and with_previous.period_granularity = most_improved.period_granularity
            and with_previous.period_start = most_improved.period_start
            and most_improved.improving_rank = 1
            and most_improved.breach_rate_change < 0
),

final as (
    select
        tenant_id,
        agent_id,
        period_granularity,
        period_start,
        (period_start + ('1 ' || period_granularity)::interval)::date as period_end,
        sla_definition_id,
        measured_day_count,
        compliant_day_count,
        breached_day_count,
        breach_rate,
        availability_breach_day_count,
        success_rate_breach_day_count,
        p95_latency_breach_day_count,
        cost_per_execution_breach_day_count,
        at_risk_day_count,
        execution_count,
        decided_execution_count,
        failure_count,
        {{ ratio('decided_execution_count - failure_count', 'decided_execution_count') }}
            as success_rate,
        allowed_failure_count,
        budgeted_failure_count / nullif(allowed_failure_count, 0) as error_budget_consumed,
        budgeted_failure_count / nullif(allowed_failure_count, 0) >= 0.8 as is_at_risk,
        budgeted_failure_count / nullif(allowed_failure_count, 0) >= 1.0
            as is_error_budget_exhausted,
        top_breached_metric,
        previous_breach_rate,
        breach_trend,
        trend_driver_metric

    from trended
    {% if window.week_from is not none or window.week_to is not none %}
        where
            (
                period_granularity = 'week'
                {% if window.week_from is not none -%}
                    and period_start >= date '{{ window.week_from }}'
                {%- endif %}
                {% if window.week_to is not none -%}
                    and period_start <= date '{{ window.week_to }}'
                {%- endif %}
            )
            or (
                period_granularity = 'month'
                {% if window.month_from is not none -%}
                    and period_start >= date '{{ window.month_from }}'
                {%- endif %}
                {% if window.month_to is not none -%}
                    and period_start <= date '{{ window.month_to }}'
                {%- endif %}
            )
    {% endif %}
)

select * from final
