with

source as (
    select * from {{ source('raw', 'executions') }}
),

renamed as (
    select
        ---------- ids
        execution_id,
        tenant_id,
        agent_id,
        parent_execution_id,
        prompt_version_id,
        experiment_id,
        session_id,
        trace_id,

        ---------- text
        status as execution_status,
        variant as experiment_variant,
        model as model_name,
        error_type,
        error_message,
        sdk_version,

        ---------- numerics
        duration_ms,
        input_tokens,
        output_tokens,
        cost_usd,

        ---------- documents
        input as input_payload,
        output as output_payload,
        metadata,

        ---------- timestamps (UTC) and the day the execution started
        started_at,
        ended_at,
        ingested_at,
        (started_at at time zone 'UTC')::date as execution_date

    from source
)

select * from renamed
