"""Async database access: tenant-scoped transactions, retry of transient errors, binary COPY."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import psycopg
import pytest

from meta_agent import tenants
from meta_agent.db import Database, copy_rows, with_retry

pytestmark = pytest.mark.integration


def test_a_tenant_transaction_sees_its_tenant_and_nothing_else(migrated_database):
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        mine, theirs = (tenants.create_tenant(conn, f"db-{uuid.uuid4().hex[:8]}") for _ in range(2))
        for tenant in (mine, theirs):
            conn.execute("insert into agents (tenant_id, name) values (%s, 'shared')", (tenant,))

    async def visible() -> tuple[list[uuid.UUID], int]:
        async with Database(migrated_database.app_url) as db:
            async with db.tenant_transaction(mine) as conn:
                rows = await (await conn.execute("select tenant_id from agents")).fetchall()
            async with db.transaction() as conn:
                bare = await (await conn.execute("select count(*) as n from agents")).fetchone()
        return [r["tenant_id"] for r in rows], bare["n"] if bare else -1

    seen, without_tenant = asyncio.run(visible())
    assert seen == [mine]
    assert without_tenant == 0


def test_transient_errors_are_retried_with_backoff_and_others_are_not():
    calls = {"flaky": 0, "broken": 0}

    async def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise psycopg.OperationalError("server closed the connection")
        return "done"

    async def broken() -> None:
        calls["broken"] += 1
        raise psycopg.errors.UniqueViolation("duplicate key")

    assert asyncio.run(with_retry(flaky, base_delay_s=0.001)) == "done"
    assert calls["flaky"] == 3
    with pytest.raises(psycopg.errors.UniqueViolation):
        asyncio.run(with_retry(broken, base_delay_s=0.001))
    assert calls["broken"] == 1


def test_an_unreachable_database_fails_to_open_with_a_clear_error(tmp_path):
    from meta_agent.errors import ServerUnavailableError

    url = f"postgresql://nobody@/nothing?host={tmp_path}"
    with pytest.raises(ServerUnavailableError, match="does not answer"):
        asyncio.run(Database(url, timeout_s=1).open())


def test_copy_rows_loads_typed_rows_in_binary(migrated_database):
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        tenant = tenants.create_tenant(conn, f"copy-{uuid.uuid4().hex[:8]}")
        agent = conn.execute(
            "insert into agents (tenant_id, name) values (%s, 'copier') returning agent_id",
            (tenant,),
        ).fetchone()[0]
        day = dt.date(2026, 1, 1)
        conn.execute(
            "select app.ensure_daily_partitions('raw.executions'::regclass, %s, %s)", (day, day)
        )
    started = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    rows = [(uuid.uuid4(), tenant, agent, started, "success", 12.5) for _ in range(100)]

    async def load() -> int:
        async with Database(migrated_database.owner_url) as db, db.transaction() as conn:
            return await copy_rows(
                conn, "raw.executions",
                ["execution_id", "tenant_id", "agent_id", "started_at", "status", "duration_ms"], rows,
            )  # fmt: skip

    assert asyncio.run(load()) == 100
    with psycopg.connect(migrated_database.owner_url) as conn:
        stored = conn.execute(
            "select count(*), min(duration_ms) from raw.executions where tenant_id = %s", (tenant,)
        ).fetchone()
    assert stored == (100, 12.5)
