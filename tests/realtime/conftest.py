"""Fixtures of the realtime tests: agents of new tenants in the session's migrated database."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest

from meta_agent import tenants
from realtime.windows import AgentKey


@pytest.fixture
def make_agent(owner_conn: psycopg.Connection) -> Callable[[], AgentKey]:
    """An agent of a new tenant."""

    def make() -> AgentKey:
        tenant_id = tenants.create_tenant(owner_conn, f"realtime-{uuid.uuid4().hex[:10]}")
        row = owner_conn.execute(
            "insert into agents (tenant_id, name) values (%s, 'worker-test') returning agent_id",
            (tenant_id,),
        ).fetchone()
        assert row is not None
        return AgentKey(tenant_id, row[0])

    return make
