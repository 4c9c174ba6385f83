"""The reconciler repairs lost alerts from the recorded states: a critical agent or an open
breaker without an alert for its episode gets one, an alert whose state is gone is cleared,
and an alert a person resolved during the episode is not reopened."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.reconcile import reconcile_signals
from meta_agent.alerting.signals import Fire
from meta_agent.db import Database
from tests.alerting.conftest import Agent, run_with_db


def _activity(owner: psycopg.Connection, agent: Agent, now: dt.datetime) -> None:
    owner.execute(
        "select app.ensure_daily_partitions('raw.executions', %s, %s)",
        (now.date() - dt.timedelta(days=1), now.date() + dt.timedelta(days=1)),
    )
    owner.execute(
        "insert into raw.executions (execution_id, tenant_id, agent_id, started_at, status)"
        " values (%s, %s, %s, %s, 'failure')",
        (uuid.uuid4(), agent.tenant_id, agent.agent_id, now - dt.timedelta(minutes=1)),
    )


def _health(owner: psycopg.Connection, agent: Agent, state: str, since: dt.datetime) -> None:
    owner.execute(
        "insert into agent_health_realtime (tenant_id, agent_id, state, state_since,"
        " executions_5m, failures_5m, evaluated_at, reason, version)"
        " values (%s, %s, %s, %s, 40, 30, now(), 'why', 1)"
        " on conflict (tenant_id, agent_id) do update set state = excluded.state,"
        " state_since = excluded.state_since, evaluated_at = now()",
        (agent.tenant_id, agent.agent_id, state, since),
    )


def _breaker(owner: psycopg.Connection, agent: Agent, state: str, at: dt.datetime) -> None:
    opened = state == "open"
    owner.execute(
        "insert into circuit_breaker_states (tenant_id, agent_id, state, state_changed_at,"
        " opened_at, open_until, consecutive_opens) values (%s, %s, %s, %s, %s, %s, 1)",
        (
            agent.tenant_id,
            agent.agent_id,
            state,
            at,
            at if opened else None,
            at + dt.timedelta(seconds=30) if opened else None,
        ),
    )


def kinds(signals: list[Any], tenant_id: uuid.UUID) -> set[tuple[str, str, Any]]:
    return {
        (type(s).__name__, s.alert_type, s.agent_id) for s in signals if s.tenant_id == tenant_id
    }


def test_lost_alerts_are_raised_and_stale_ones_cleared(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    now = dt.datetime.now(dt.UTC)
    lost = make_agent()
    healed = make_agent(lost.tenant_id, "healed-bot")
    opened = make_agent(lost.tenant_id, "opened-bot")
    _activity(owner_conn, lost, now)
    _health(owner_conn, lost, "critical", now - dt.timedelta(minutes=2))
    _health(owner_conn, healed, "healthy", now - dt.timedelta(minutes=1))
    _breaker(owner_conn, opened, "open", now - dt.timedelta(seconds=10))

    async def body(db: Database) -> Any:
        engine = AlertEngine(db)
        # healed-bot's alert was raised, then its recovery transition was lost
        await engine.fire(
            Fire(
                lost.tenant_id,
                healed.agent_id,
                "health_degraded",
                "t",
                now - dt.timedelta(minutes=5),
            )
        )
        first = await reconcile_signals(db, now)
        for signal in first:
            if isinstance(signal, Fire):
                await engine.fire(signal)
            else:
                await engine.clear(signal)
        return first, await reconcile_signals(db, now)

    first, second = run_with_db(migrated_database.app_url, body)
    assert kinds(first, lost.tenant_id) == {
        ("Fire", "health_critical", lost.agent_id),
        ("Clear", "health_degraded", healed.agent_id),
        ("Fire", "circuit_opened", opened.agent_id),
    }
    assert kinds(second, lost.tenant_id) == set()  # repaired: nothing more to say
    fired = next(s for s in first if isinstance(s, Fire) and s.agent_id == lost.agent_id)
    assert fired.details["reconciled"] is True


def test_an_alert_a_person_resolved_is_not_reopened_for_the_same_episode(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    now = dt.datetime.now(dt.UTC)
    agent = make_agent()
    _activity(owner_conn, agent, now)
    _health(owner_conn, agent, "critical", now - dt.timedelta(minutes=10))

    async def body(db: Database) -> Any:
        engine = AlertEngine(db)
        outcome = await engine.fire(
            Fire(
                agent.tenant_id,
                agent.agent_id,
                "health_critical",
                "t",
                now - dt.timedelta(minutes=9),
            )
        )
        await engine.resolve(
            agent.tenant_id, outcome.alert_id, by="ana", at=now - dt.timedelta(minutes=1)
        )
        return await reconcile_signals(db, now)

    assert kinds(run_with_db(migrated_database.app_url, body), agent.tenant_id) == set()
