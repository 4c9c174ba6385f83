{#
    Transaction-local settings for the models that read a whole day of raw logs.

    `set_work_mem()` (every mart and intermediate table): memory for hashes and sorts, and
    the parallel workers per query (vars in dbt_project.yml).

    `prefer_hash_plans()`: the models that join a day of raw actions to raw executions. The
    partitioned parents have no statistics (autovacuum analyzes partitions, never their
    parent), so the planner guesses 200 distinct values per column: it expects millions of
    groups, sorts four million rows, or walks the execution-id index a million times. For
    these queries the right plan is always the same (hash the window's executions, hash the
    few hundred groups), so we ask for it. Harmless once the parents are analyzed.
#}
{% macro set_work_mem() %}
    set local work_mem = '{{ var("work_mem") }}';
    set local max_parallel_workers_per_gather = {{ var("max_parallel_workers_per_gather") }}
{% endmacro %}


{% macro prefer_hash_plans(allow_sort=true) %}
    set local enable_nestloop = off;
    set local enable_mergejoin = off
    {%- if not allow_sort %};
    set local enable_sort = off
    {%- endif %}
{% endmacro %}


{#
    Models whose rows depend on other days' rows (period roll-ups) take a lock for the length
    of their transaction, so two partitions built at once cannot interleave their
    delete+insert and leave a period twice.
#}
{% macro lock_model() %}
    select pg_advisory_xact_lock(hashtext('{{ this }}'))
{% endmacro %}
