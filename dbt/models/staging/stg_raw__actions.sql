with

source as (
    select * from {{ source('raw', 'actions') }}
),

renamed as (
    select
        ---------- ids
        action_id,
        tenant_id,
        execution_id,
        parent_action_id,
        agent_id,

        ---------- text
        action_type,
        name as action_name,
        status as action_status,
        model as model_name,
        error_type,
        error_message,

        ---------- numerics
        sequence as action_sequence,
        duration_ms,
        input_tokens,
        output_tokens,
        cost_usd,

        ---------- documents
        input as input_payload,
        output as output_payload,
        attributes,

        ---------- timestamps (UTC)
        started_at,
        ended_at,
        ingested_at

    from source
)

select * from renamed
