{#
    Data tests on the large incremental tables check the run's window, not all of history:
    a test configured with `where: "<day column> in __run_window__"` reads only the days the
    run rebuilt. (dbt renders a test's `where` without project macros, so the placeholder is
    expanded here, in the macro dbt calls to apply it.) Without vars the window is everything.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- if '__run_window__' in where -%}
            {%- set expanded = date_window('\\1') -%}
            {%- set where = modules.re.sub(
                '([A-Za-z_][A-Za-z0-9_]*) in __run_window__', expanded, where
            ) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) as dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
