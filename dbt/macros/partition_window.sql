{#
    The window a run covers, from the Dagster partition: vars `start_date` and `end_date`,
    ISO dates of UTC days, end exclusive. Either may be left out; without both, a run covers
    all data. Raw tables are filtered on `started_at` against timestamptz literals, so the
    planner prunes their daily partitions when it plans the query.
#}

{% macro window_dates() %}
    {%- set bounds = [] -%}
    {%- for name in ['start_date', 'end_date'] -%}
        {%- set value = var(name, none) -%}
        {%- if value is none or (value | string | trim) == '' -%}
            {%- do bounds.append(none) -%}
        {%- else -%}
            {%- set text = value | string | trim -%}
            {%- set parts = modules.re.fullmatch('([0-9]{4})-([0-9]{2})-([0-9]{2})', text) -%}
            {%- set month = parts.group(2) | int if parts else 0 -%}
            {%- if month < 1 or month > 12 -%}
                {%- set last_day = 0 -%}
            {%- else -%}
                {%- set first_of_month = modules.datetime.date(parts.group(1) | int, month, 1) -%}
                {%- set next_month = (first_of_month + modules.datetime.timedelta(days=31)).replace(day=1) -%}
                {%- set last_day = (next_month - modules.datetime.timedelta(days=1)).day -%}
            {%- endif -%}
            {%- if not parts or not 1 <= parts.group(3) | int <= last_day -%}
                {{ exceptions.raise_compiler_error(
                    "var " ~ name ~ " must be a date as YYYY-MM-DD, got '" ~ text ~ "'"
                ) }}
            {%- endif -%}
            {%- do bounds.append(modules.datetime.date.fromisoformat(text)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if bounds[0] is not none and bounds[1] is not none and bounds[0] >= bounds[1] -%}
        {{ exceptions.raise_compiler_error(
            "var end_date (" ~ bounds[1] ~ ") must be after start_date (" ~ bounds[0]
            ~ "): the window is [start_date, end_date)"
        ) }}
    {%- endif -%}
    {{ return(bounds) }}
{% endmacro %}


{# A predicate on a timestamptz column; `lookahead_days` widens the end of the window. #}
{% macro partition_window(column, lookahead_days=0) %}
    {%- set bounds = window_dates() -%}
    {%- set conditions = [] -%}
    {%- if bounds[0] is not none -%}
        {%- do conditions.append(column ~ " >= timestamptz '" ~ bounds[0] ~ " 00:00:00+00'") -%}
    {%- endif -%}
    {%- if bounds[1] is not none -%}
        {%- set end = bounds[1] + modules.datetime.timedelta(days=lookahead_days) -%}
        {%- do conditions.append(column ~ " < timestamptz '" ~ end ~ " 00:00:00+00'") -%}
    {%- endif -%}
    {{- conditions | join(' and ') if conditions else 'true' -}}
{% endmacro %}


{# A predicate on a date column (the day column of the intermediate and mart tables). #}
{% macro date_window(column) %}
    {%- set bounds = window_dates() -%}
    {%- set conditions = [] -%}
    {%- if bounds[0] is not none -%}
        {%- do conditions.append(column ~ " >= date '" ~ bounds[0] ~ "'") -%}
    {%- endif -%}
    {%- if bounds[1] is not none -%}
        {%- do conditions.append(column ~ " < date '" ~ bounds[1] ~ "'") -%}
    {%- endif -%}
    {{- conditions | join(' and ') if conditions else 'true' -}}
{% endmacro %}


{#
    The predicate dbt's delete+insert adds to its delete: the replaced days, as a range on the
    target's day column, so the delete walks that column's index instead of the whole table.
#}
{% macro replaced_days(column) %}
    {{- return([date_window('DBT_INTERNAL_DEST.' ~ column)]) -}}
{% endmacro %}


{#
    The weeks (ISO, from Monday) and months a period roll-up rebuilds for the run's window:
    every period that holds a day of the window, and the period after the last of them,
    whose trend compares against it. `read_from` is the first day the roll-up must read: the
    start of the period before the first one, the baseline of its trend.
    Bounds are none when the window is open on that side.
#}
{% macro period_window() %}
    {%- set bounds = window_dates() -%}
    {%- set day = modules.datetime.timedelta(days=1) -%}
    {%- set window = {'read_from': none, 'week_from': none, 'week_to': none, 'month_from': none, 'month_to': none} -%}
    {%- if bounds[0] is not none -%}
        {%- set first = bounds[0] -%}
        {%- set week_from = first - day * first.weekday() -%}
        {%- set month_from = first.replace(day=1) -%}
        {%- set previous_month = (month_from - day).replace(day=1) -%}
        {%- do window.update({
            'week_from': week_from,
            'month_from': month_from,
            'read_from': [week_from - day * 7, previous_month] | min,
        }) -%}
    {%- endif -%}
    {%- if bounds[1] is not none -%}
        {%- set last = bounds[1] - day -%}
        {%- set last_month = last.replace(day=1) -%}
        {%- do window.update({
            'week_to': last - day * last.weekday() + day * 7,
            'month_to': (last_month.replace(day=28) + day * 4).replace(day=1),
        }) -%}
    {%- endif -%}
    {{ return(window) }}
{% endmacro %}
