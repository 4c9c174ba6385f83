"""API keys as the admin endpoints show them: never the hash, the key itself only once."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from api.schemas.common import Name, ReadModel, Timestamp, WriteModel

Scope = Literal["ingest", "read", "write", "admin"]


class ApiKeyCreate(WriteModel):
    name: Name = Field(examples=["dashboard"])
    scopes: list[Scope] = Field(min_length=1, max_length=4, examples=[["read"]])
    # A time already past is accepted (the schema cannot say "future"); such a key simply
    # never authenticates.
    expires_at: Timestamp | None = None


class ApiKey(ReadModel):
    api_key_id: uuid.UUID
    name: str
    prefix: str
    scopes: list[Scope]
    created_by: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_by: str | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The key itself. Shown this once; only its hash is stored.")
