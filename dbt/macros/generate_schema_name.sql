{#
    Models land in the schema they are configured with (`marts`, not `analytics_marts`):
    the API and the migrations name `marts.<table>` directly, whatever the target's schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
