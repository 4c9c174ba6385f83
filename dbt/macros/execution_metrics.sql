{#
    The core metrics of a group of executions, shared by agent_daily_metrics and
    agent_variant_daily_metrics so that both mean the same thing:

    - `execution_metric_aggregates()`: aggregates over rows of int_executions_enriched;
    - `action_metric_aggregates()`: sums over rows of int_actions_aggregated_to_agent_days;
    - `metric_columns(executions, actions)`: the marts' metric columns, in contract order,
      from those two grouped relations (`actions` left-joined: a group may have no actions).
#}

{% macro execution_metric_aggregates() %}
    count(*) as execution_count,
    count(*) filter (where is_success) as success_count,
    count(*) filter (where is_failure) as failure_count,
    count(*) filter (where execution_status = 'timeout') as timeout_count,
    count(*) filter (where is_decided) as decided_execution_count,
    count(*) filter (where is_availability_failure) as availability_failure_count,
    -- percentile_cont interpolates linearly between the two nearest durations
    percentile_cont(0.50) within group (order by duration_ms) as latency_p50_ms,
    percentile_cont(0.90) within group (order by duration_ms) as latency_p90_ms,
    percentile_cont(0.95) within group (order by duration_ms) as latency_p95_ms,
    percentile_cont(0.99) within group (order by duration_ms) as latency_p99_ms,
    -- summed as numeric: exact, so the mean does not depend on the order rows arrive in
    -- (a float sum does, in its last bit, and a day rebuilt must be identical)
    avg(duration_ms::numeric)::double precision as latency_mean_ms,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(cost_usd)::numeric(20, 8) as cost_usd,
    count(*) filter (where has_human_intervention) as human_intervened_execution_count,
    count(distinct session_id) as session_count
{% endmacro %}


{% macro action_metric_aggregates() %}
    sum(action_count)::bigint as action_count,
    sum(tool_call_count)::bigint as tool_call_count,
    sum(failed_tool_call_count)::bigint as failed_tool_call_count,
    sum(llm_call_count)::bigint as llm_call_count,
    sum(human_intervention_count)::bigint as human_intervention_count
{% endmacro %}


{% macro metric_columns(executions, actions) %}
    {%- set action_counts = [
        'action_count', 'tool_call_count', 'failed_tool_call_count', 'llm_call_count',
        'human_intervention_count',
    ] -%}
    {{ executions }}.execution_count,
    {{ executions }}.success_count,
    {{ executions }}.failure_count,
    {{ executions }}.timeout_count,
    {{ executions }}.decided_execution_count,
    {{ executions }}.availability_failure_count,
    {{ executions }}.latency_p50_ms,
    {{ executions }}.latency_p90_ms,
    {{ executions }}.latency_p95_ms,
    {{ executions }}.latency_p99_ms,
    {{ executions }}.latency_mean_ms,
    {%- for column in action_counts %}
    coalesce({{ actions }}.{{ column }}, 0) as {{ column }},
    {%- endfor %}
    {{ executions }}.input_tokens,
    {{ executions }}.output_tokens,
    {{ executions }}.cost_usd,
    {{ executions }}.human_intervened_execution_count,
    {{ executions }}.session_count,
    {{ ratio(executions ~ '.success_count', executions ~ '.decided_execution_count') }}
        as success_rate,
    {{ ratio(
        executions ~ '.decided_execution_count - ' ~ executions ~ '.availability_failure_count',
        executions ~ '.decided_execution_count',
    ) }} as availability,
    {{ ratio('coalesce(' ~ actions ~ '.action_count, 0)', executions ~ '.execution_count') }}
        as actions_per_execution,
    {{ ratio(actions ~ '.failed_tool_call_count', actions ~ '.tool_call_count') }}
        as tool_call_error_rate,
    {{ ratio(executions ~ '.cost_usd', executions ~ '.execution_count') }}
        as cost_per_execution_usd,
    {{ ratio(executions ~ '.human_intervened_execution_count', executions ~ '.execution_count') }}
        as human_intervention_rate
{% endmacro %}


{# numerator / denominator as double precision; NULL when the denominator is 0. #}
{% macro ratio(numerator, denominator) -%}
    ({{ numerator }})::double precision / nullif({{ denominator }}, 0)
{%- endmacro %}
