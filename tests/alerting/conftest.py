"""Fixtures of the alerting tests: agents of new tenants in the session's migrated database,
webhook channels pointed at a local sink, and an async runner with a real app-role pool."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest

from meta_agent import tenants
from meta_agent.agent_key import AgentKey
from meta_agent.db import Database

T = TypeVar("T")
SINK_SECRET = "whsec-test-0123456789"
SINK_SECRET_VAR = "METAAGENT_SECRET_TEST_SINK"


# the project's one (tenant, agent) key
Agent = AgentKey


@pytest.fixture
def make_agent(owner_conn: psycopg.Connection) -> Callable[..., Agent]:
    """An agent of a new tenant (or of `tenant_id`)."""

    def make(tenant_id: uuid.UUID | None = None, name: str = "invoice-bot") -> Agent:
        tenant = tenant_id or tenants.create_tenant(owner_conn, f"alerts-{uuid.uuid4().hex[:10]}")
        row = owner_conn.execute(
            "insert into agents (tenant_id, name) values (%s, %s) returning agent_id",
            (tenant, name),
        ).fetchone()
        assert row is not None
        return Agent(tenant, row[0])

    return make


MakeFleet = Callable[[int], tuple[uuid.UUID, list[uuid.UUID]]]


@pytest.fixture
def make_fleet(owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]) -> MakeFleet:
    """`count` agents of one new tenant: the tenant and the agents' ids."""

    def make(count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
        first = make_agent()
        owner_conn.execute(
            "insert into agents (tenant_id, name)"
            " select %s, 'racer-' || g from generate_series(1, %s) as g",
            (first.tenant_id, count - 1),
        )
        rows = owner_conn.execute(
            "select agent_id from agents where tenant_id = %s", (first.tenant_id,)
        ).fetchall()
        return first.tenant_id, [r[0] for r in rows]

    return make


@pytest.fixture
def sink_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(SINK_SECRET_VAR, SINK_SECRET)
    return SINK_SECRET


def add_webhook_channel(
    owner: psycopg.Connection, tenant_id: uuid.UUID, url: str, name: str = "sink", **extra: Any
) -> uuid.UUID:
    row = owner.execute(
        "insert into notification_channels (tenant_id, kind, name, config, secret_env_var)"
        " values (%s, 'webhook', %s, jsonb_build_object('url', %s::text), %s)"
        " returning notification_channel_id",
        (tenant_id, name, url, SINK_SECRET_VAR),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def run_with_db(url: str, body: Callable[[Database], Awaitable[T]], pool: int = 8) -> T:
    async def main() -> T:
        async with Database(url, max_size=pool) as db:
            return await body(db)

    return asyncio.run(main())
