with

source as (
    select * from {{ source('operational', 'agents') }}
),

renamed as (
    select
        ---------- ids
        agent_id,
        tenant_id,
        current_prompt_version_id,

        ---------- text
        name as agent_name,
        kind as agent_kind,
        owner as agent_owner,
        status as agent_status,

        ---------- numerics
        sla_p95_ms::double precision as sla_p95_ms,

        ---------- timestamps (UTC)
        created_at,
        updated_at,
        archived_at

    from source
)

select * from renamed
