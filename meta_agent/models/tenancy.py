"""Tenants and their API keys (migration 0002)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import JsonObject, Name, TableModel

UnknownAgentPolicy = Literal["register", "reject"]
ApiKeyScope = Literal["ingest", "read", "write", "admin"]


class Tenant(TableModel):
    __table__ = "public.tenants"

    tenant_id: uuid.UUID
    name: Name
    # what ingest does with an agent name it has never seen
    unknown_agent_policy: UnknownAgentPolicy = "register"
    retention_days: int = Field(default=30, ge=1, le=3650)
    settings: JsonObject = Field(default_factory=dict)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ApiKey(TableModel):
    """A key's stored form; the key itself is shown once and never stored."""

    __table__ = "public.api_keys"

    api_key_id: uuid.UUID
    tenant_id: uuid.UUID
    name: Name
    prefix: str = Field(min_length=4, max_length=32)
    # sha256 of the key: kept out of repr so it never lands in a log line
    key_hash: bytes = Field(min_length=32, max_length=32, repr=False)
    scopes: list[ApiKeyScope] = Field(min_length=1)
    created_by: str | None = None
    created_at: AwareDatetime
    last_used_at: AwareDatetime | None = None
    expires_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None
    revoked_by: str | None = None
