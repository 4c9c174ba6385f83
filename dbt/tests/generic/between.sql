{# Fails for every non-NULL value outside [min_value, max_value]: rates, shares, ratios. #}
{% test between(model, column_name, min_value, max_value) %}

    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}

{% endtest %}
