"""Typed dependencies: who is calling, and a transaction that RLS scopes to their tenant.

Every authenticated request gets one connection and one transaction as `meta_agent_app`:
the key is looked up through `app.authenticate_api_key`, the key's tenant is set with
`set_config(..., true)`, and the route's queries run in that same transaction. RLS, not a
WHERE clause, keeps tenants apart. The transaction ends (commit, or rollback on error) before
the response is sent, so a client never sees a success that was not stored.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection

from api.errors import ApiError
from meta_agent.alerting.engine import AlertEngine
from meta_agent.db import Database
from meta_agent.tenants import hash_key

# `admin` may do everything; `write` includes `read`. `ingest` is only ingest.
_IMPLIED = {"admin": {"ingest", "read", "write", "admin"}, "write": {"read", "write"}}

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ma_…`")

Conn = AsyncConnection[dict[str, Any]]


@dataclass(frozen=True)
class Principal:
    api_key_id: uuid.UUID
    tenant_id: uuid.UUID
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return any(scope in _IMPLIED.get(held, {held}) for held in self.scopes)


@dataclass(frozen=True)
class Session:
    """The caller and the tenant-scoped transaction their request runs in."""

    principal: Principal
    conn: Conn

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.principal.tenant_id


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def alert_engine(request: Request) -> AlertEngine:
    engine: AlertEngine = request.app.state.alert_engine
    return engine


async def actor_name(session: Session) -> str:
    """Who a change is recorded as: `<key name> [key <id>]`."""
    cursor = await session.conn.execute(
        "select name from api_keys where api_key_id = %s", (session.principal.api_key_id,)
    )
    row = await cursor.fetchone()
    name = row["name"] if row else "?"
    return f"{name} [key {session.principal.api_key_id}]"[:200]


async def _session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AsyncIterator[Session]:
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "an API key is required: Authorization: Bearer <key>")
    key = credentials.credentials
    if len(key) > 200 or not key.isascii():
        raise ApiError(401, "the API key is not valid")
    # One round trip: BEGIN and the key lookup travel together, and the key's tenant becomes
    # the transaction's as it is looked up. Prepared statements then run with their generic
    # plan: left to choose, Postgres re-plans each execution over the day partitions (a custom
    # plan prunes them at plan time), which cost the overview and list queries twice as much
    # time as the generic plan's run-time pruning.
    async with database(request).transaction_opened_by(
        "select k.api_key_id, k.tenant_id, k.scopes,"
        " set_config('app.tenant_id', k.tenant_id::text, true),"
        " set_config('plan_cache_mode', 'force_generic_plan', true)"
        " from app.authenticate_api_key(%s) as k",
        (hash_key(key),),
    ) as (conn, row):
        if row is None:
            raise ApiError(401, "the API key is not valid")
        principal = Principal(row["api_key_id"], row["tenant_id"], frozenset(row["scopes"]))
        yield Session(principal, conn)


def require(scope: str) -> Callable[..., Coroutine[Any, Any, Session]]:
    """A dependency that admits only keys holding `scope` (or one that implies it)."""

    async def check(session: Annotated[Session, Depends(_session, scope="function")]) -> Session:
        if not session.principal.allows(scope):
            raise ApiError(403, f"this API key lacks the '{scope}' scope")
        return session

    return check


ReadSession = Annotated[Session, Depends(require("read"))]
WriteSession = Annotated[Session, Depends(require("write"))]
AdminSession = Annotated[Session, Depends(require("admin"))]
IngestSession = Annotated[Session, Depends(require("ingest"))]
DatabaseDep = Annotated[Database, Depends(database)]
AlertEngineDep = Annotated[AlertEngine, Depends(alert_engine)]
