"""Alerts caused by failing executions name the commonest recent error: the engine adds it to
the alert's details when the alert notifies, from the agent's raw executions of the last 5
minutes."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import redis.asyncio as aioredis

from meta_agent.alerting.dispatch import Dispatcher
from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.signals import Fire
from meta_agent.db import Database
from realtime.alerts import AlertLoop
from tests.alerting.conftest import Agent


def _failures(
    owner: psycopg.Connection, agent: Agent, now: dt.datetime, rows: list[tuple[str, int, int]]
) -> None:
    """(error type, how many, minutes ago) failed executions."""
    owner.execute(
        "select app.ensure_daily_partitions('raw.executions', %s, %s)",
        (now.date() - dt.timedelta(days=1), now.date() + dt.timedelta(days=1)),
    )
    for error_type, count, minutes_ago in rows:
        for _ in range(count):
            owner.execute(
                "insert into raw.executions (execution_id, tenant_id, agent_id, started_at,"
                " status, error_type, error_message) values (%s, %s, %s, %s, 'failure', %s, %s)",
                (
                    uuid.uuid4(),
                    agent.tenant_id,
                    agent.agent_id,
                    now - dt.timedelta(minutes=minutes_ago),
                    error_type,
                    f"{error_type} happened",
                ),
            )


def test_the_commonest_recent_error_goes_into_the_alert(
    migrated_database: Any,
    owner_conn: psycopg.Connection,
    make_agent: Callable[..., Agent],
    redis_url: str,
) -> None:
    now = dt.datetime.now(dt.UTC)
    agent = make_agent()
    # the old storm of timeouts is outside the 5 minutes; the vendor errors are what matter now
    _failures(
        owner_conn, agent, now, [("Timeout", 9, 30), ("VendorError", 3, 1), ("KeyError", 1, 2)]
    )

    async def body() -> Any:
        client = aioredis.Redis.from_url(redis_url)
        async with Database(migrated_database.app_url, max_size=4) as db:
            loop = AlertLoop(
                db,
                client,
                engine=AlertEngine(db),
                dispatcher=Dispatcher(db, read_secret=lambda *_: None),
            )
            critical = Fire(agent.tenant_id, agent.agent_id, "health_critical", "t", now)
            budget = Fire(agent.tenant_id, agent.agent_id, "budget_exceeded", "t", now)
            await loop.apply([critical, budget])
            await loop.dispatcher.aclose()
        await client.aclose()

    asyncio.run(body())
    rows = dict(
        owner_conn.execute(
            "select alert_type, details -> 'top_error' from alerts where agent_id = %s",
            (agent.agent_id,),
        ).fetchall()
    )
    assert rows["health_critical"] == {
        "type": "VendorError",
        "message": "VendorError happened",
        "count": 3,
    }
    assert rows["budget_exceeded"] is None  # not caused by failing executions
