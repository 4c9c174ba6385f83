"""Fixtures of the breaker tests: tenants with agents in the session's migrated database, and
a Redis that a test may lose entirely."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest

from meta_agent import tenants
from meta_agent.breaker import BreakerKey


@pytest.fixture
def make_agent(owner_conn: psycopg.Connection) -> Callable[..., BreakerKey]:
    """The breaker key of a new agent, of a new tenant or of `tenant_id`."""

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
