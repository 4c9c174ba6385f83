"""Fixtures of the realtime tests: a Redis of their own, async helpers, tenants with agents."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from meta_agent import tenants
from meta_agent.embedded import EmbeddedRedis
from realtime.breaker import BreakerKey, RedisBreakerStore


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis for these tests alone: they FLUSHALL it to simulate a Redis loss, which must
    not wipe what other test packages keep in the session's shared Redis."""
    home = Path(tempfile.mkdtemp(prefix="breaker redis "))
    server = EmbeddedRedis(home)
    server.start()
    yield server.url()
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


@asynccontextmanager
async def redis_store(url: str, **client_options: Any) -> AsyncIterator[RedisBreakerStore]:
    """A store on its own client, made inside the running event loop (clients are per loop)."""
    client = aioredis.Redis.from_url(url, **client_options)
    try:
        yield RedisBreakerStore(client)
    finally:
        await client.aclose()


def new_key() -> BreakerKey:
    return BreakerKey(uuid.uuid4(), uuid.uuid4())


@pytest.fixture(scope="module")
def owner_conn(migrated_database: Any) -> Iterator[psycopg.Connection]:
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def make_agent(owner_conn: psycopg.Connection) -> Callable[..., BreakerKey]:
    """An agent of a new tenant (or of `tenant_id`), as the breaker key of its breaker."""

    def make(tenant_id: uuid.UUID | None = None) -> BreakerKey:
        if tenant_id is None:
            tenant_id = tenants.create_tenant(owner_conn, f"breaker-{uuid.uuid4().hex[:10]}")
        row = owner_conn.execute(
            "insert into agents (tenant_id, name) values (%s, %s) returning agent_id",
            (tenant_id, f"agent-{uuid.uuid4().hex[:8]}"),
        ).fetchone()
        assert row is not None
        return BreakerKey(tenant_id, row[0])

    return make
