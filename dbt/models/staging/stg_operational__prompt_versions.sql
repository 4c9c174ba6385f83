with

source as (
    select * from {{ source('operational', 'prompt_versions') }}
),

renamed as (
    select
        ---------- ids
        prompt_version_id,
        tenant_id,
        agent_id,
        parent_version_id as parent_prompt_version_id,

        ---------- text
        model as model_name,
        status as prompt_version_status,
        source as prompt_version_source,
        author,
        change_summary,

        ---------- numerics
        version as prompt_version_number,

        ---------- timestamps (UTC)
        created_at,
        updated_at

    from source
)

select * from renamed
