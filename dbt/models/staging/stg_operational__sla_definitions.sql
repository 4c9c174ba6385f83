with

source as (
    select * from {{ source('operational', 'sla_definitions') }}
),

renamed as (
    select
        ---------- ids
        sla_definition_id,
        tenant_id,
        agent_id,

        ---------- text
        name as sla_name,
        period as sla_period,

        ---------- targets (NULL: the SLA does not set that target)
        target_success_rate,
        target_p95_ms as target_p95_latency_ms,
        target_availability,
        -- share of executions allowed to fail; NULL means 1 - target_success_rate
        error_budget,

        ---------- timestamps (UTC): in force from effective_from_at, until effective_to_at
        effective_from as effective_from_at,
        effective_to as effective_to_at,
        created_at,
        updated_at,

        ---------- casts and flags
        max_cost_per_execution_usd::double precision as max_cost_per_execution_usd,
        agent_id is null as is_tenant_wide

    from source
)

select * from renamed
