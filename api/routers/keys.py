"""/v1/keys: list, issue and revoke the tenant's API keys (scope `admin`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import AdminSession
from api.errors import not_found
from api.schemas.keys import ApiKey, ApiKeyCreate, ApiKeyCreated
from meta_agent.tenants import hash_key, new_key

router = APIRouter(prefix="/keys", tags=["api keys"])

_COLUMNS = (
    "api_key_id, name, prefix, scopes, created_by, created_at, last_used_at, expires_at,"
    " revoked_at, revoked_by"
)


@router.get("", response_model=list[ApiKey], summary="List the tenant's API keys")
async def list_keys(session: AdminSession) -> list[ApiKey]:
    cursor = await session.conn.execute(
        f"select {_COLUMNS} from api_keys order by created_at, api_key_id"
    )
    return [ApiKey.model_validate(r) for r in await cursor.fetchall()]


@router.post("", status_code=201, response_model=ApiKeyCreated, summary="Issue an API key")
async def create_key(body: ApiKeyCreate, session: AdminSession) -> ApiKeyCreated:
    key, prefix = new_key()
    cursor = await session.conn.execute(
        "insert into api_keys (tenant_id, name, prefix, key_hash, scopes, expires_at, created_by)"
        f" values (%s, %s, %s, %s, %s, %s, %s) returning {_COLUMNS}",
        (
            session.tenant_id, body.name, prefix, hash_key(key), sorted(set(body.scopes)),
            body.expires_at, f"key:{session.principal.api_key_id}",
        ),
    )  # fmt: skip
    row = await cursor.fetchone()
    assert row is not None
    return ApiKeyCreated.model_validate({**row, "key": key})


@router.post("/{api_key_id:uuid}/revoke", response_model=ApiKey, summary="Revoke an API key")
async def revoke_key(api_key_id: uuid.UUID, session: AdminSession) -> ApiKey:
    cursor = await session.conn.execute(
        "update api_keys set revoked_at = coalesce(revoked_at, now()),"
        " revoked_by = coalesce(revoked_by, %s)"
        f" where api_key_id = %s returning {_COLUMNS}",
        (f"key:{session.principal.api_key_id}", api_key_id),
    )
    row = await cursor.fetchone()
    if row is None:
        raise not_found("API key")
    return ApiKey.model_validate(row)
