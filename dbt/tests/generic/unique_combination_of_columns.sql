{#
    Fails for every combination of the columns that appears more than once. NULLs compare
    equal here (GROUP BY semantics): a NULL experiment variant is one value, not many.
    dbt_utils has the same test; packages cannot be installed on these machines.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as row_count

    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1

{% endtest %}
