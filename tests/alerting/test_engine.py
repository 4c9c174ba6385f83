"""The alert engine against the real Postgres: one notification per state change per channel,
with the suppressed repeats counted and reported; silences; escalation; acknowledgement and
resolution with who and when; and two engines racing over the same alerts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import psycopg

from meta_agent.alerting.engine import AlertEngine, AlertStateConflict
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.db import Database
from tests.alerting.conftest import Agent, MakeFleet, add_webhook_channel, run_with_db

T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fire(agent: Agent, seconds: float, alert_type: Any = "health_critical", **kw: Any) -> Fire:
    return Fire(
        agent.tenant_id, agent.agent_id, alert_type, "{agent} is critical", at(seconds), **kw
    )


def clear(agent: Agent, seconds: float, alert_type: Any = "health_critical") -> Clear:
    return Clear(agent.tenant_id, agent.agent_id, alert_type, at(seconds))


def deliveries(owner: psycopg.Connection, agent: Agent) -> list[tuple[Any, ...]]:
    return owner.execute(
        "select c.name, d.state_change, d.sequence,"
        " (d.payload -> 'alert' ->> 'suppressed_since_last')::int"
        " from alert_deliveries as d join notification_channels as c"
        " using (tenant_id, notification_channel_id)"
        " join alerts as a using (tenant_id, alert_id)"
        " where a.agent_id = %s order by d.created_at, c.name",
        (agent.agent_id,),
    ).fetchall()


def test_a_flapping_agent_notifies_once_per_state_change_per_channel(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    for name in ("ops-a", "ops-b"):
        add_webhook_channel(owner_conn, agent.tenant_id, "http://127.0.0.1:9/x", name)

    async def body(db: Database) -> Any:
        engine = AlertEngine(db)
        first = await engine.fire(fire(agent, 0))
        # flapping: clear and fire again every 10 s for 5 minutes, inside the dedup window
        for k in range(1, 31):
            await engine.clear(clear(agent, 10 * k - 5))
            await engine.fire(fire(agent, 10 * k))
        assert await engine.resolve_cleared(at(301)) == 0  # it fired again: nothing cleared
        reminder = await engine.fire(fire(agent, 3600 + 1))  # past the window: a reminder
        for k in range(1, 4):
            await engine.fire(fire(agent, 3600 + 1 + k))
        await engine.clear(clear(agent, 3700))
        early = await engine.resolve_cleared(at(3700 + 299))
        late = await engine.resolve_cleared(at(3700 + 300))
        return first, reminder, early, late

    first, reminder, early, late = run_with_db(migrated_database.app_url, body)
    assert first.opened
    assert first.state_change == "opened"
    assert reminder.state_change == "repeated"
    assert not reminder.opened
    assert (early, late) == (0, 1)
    assert deliveries(owner_conn, agent) == [
        ("ops-a", "opened", 0, 0),
        ("ops-b", "opened", 0, 0),
        ("ops-a", "repeated", 1, 30),
        ("ops-b", "repeated", 1, 30),
        ("ops-a", "resolved", 0, 3),
        ("ops-b", "resolved", 0, 3),
    ]
    row = owner_conn.execute(
        "select status, occurrence_count, suppressed_count, auto_resolved, seconds_to_resolve,"
        " title from alerts where agent_id = %s",
        (agent.agent_id,),
    ).fetchone()
    assert row == ("resolved", 35, 33, True, 4000.0, "invoice-bot is critical")


def test_a_worse_severity_escalates_at_once_and_a_silence_mutes(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    muted = make_agent(agent.tenant_id, "muted-bot")
    add_webhook_channel(owner_conn, agent.tenant_id, "http://127.0.0.1:9/x")
    owner_conn.execute(
        "insert into alert_silences (tenant_id, matchers, starts_at, ends_at, created_by)"
        " values (%s, jsonb_build_object('agent', 'muted-bot'), %s, %s, 'test')",
        (agent.tenant_id, at(-60), at(600)),
    )

    async def body(db: Database) -> Any:
        engine = AlertEngine(db)
        spike = {"error_rate_5m": 0.2}
        warn = await engine.fire(fire(agent, 0, "error_rate_spike", details=spike))
        same = await engine.fire(fire(agent, 5, "error_rate_spike", details=spike))
        worse = await engine.fire(
            fire(agent, 10, "error_rate_spike", details={"error_rate_5m": 0.7})
        )
        lower = await engine.fire(fire(agent, 15, "error_rate_spike", details=spike))
        hushed = [await engine.fire(fire(muted, s)) for s in (0, 30, 60)]
        after = await engine.fire(fire(muted, 601))  # the silence ended: now it is heard
        return warn, same, worse, lower, hushed, after

    warn, same, worse, lower, hushed, after = run_with_db(migrated_database.app_url, body)
    assert (warn.severity, warn.state_change) == ("warning", "opened")
    assert same.state_change is None
    assert (worse.severity, worse.state_change) == ("critical", "escalated_critical")
    assert (lower.severity, lower.state_change) == ("critical", None)  # never quietly lower
    assert [h.state_change for h in hushed] == [None, None, None]
    assert after.state_change == "opened"
    assert [d[1:] for d in deliveries(owner_conn, muted)] == [("opened", 0, 3)]


def test_acknowledge_and_resolve_record_who_and_when_and_refuse_twice(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    agent = make_agent()
    add_webhook_channel(owner_conn, agent.tenant_id, "http://127.0.0.1:9/x")

    async def body(db: Database) -> Any:
        engine = AlertEngine(db)
        opened = await engine.fire(fire(agent, 0))
        acked = await engine.acknowledge(agent.tenant_id, opened.alert_id, by="ana", at=at(90))
        quiet = await engine.fire(fire(agent, 7200))  # acknowledged: no reminder
        resolved = await engine.resolve(agent.tenant_id, opened.alert_id, by="bo", at=at(7300))
        errors = []
        for action in (engine.acknowledge, engine.resolve):
            try:
                await action(agent.tenant_id, opened.alert_id, by="x", at=at(7400))
            except AlertStateConflict as exc:
                errors.append(exc.status)
        reopened = await engine.fire(fire(agent, 7500))
        return opened, acked, quiet, resolved, errors, reopened

    opened, acked, quiet, resolved, errors, reopened = run_with_db(migrated_database.app_url, body)
    assert (acked.state_change, quiet.state_change, resolved.state_change) == (
        "acknowledged",
        None,
        "resolved",
    )
    assert errors == ["resolved", "resolved"]
    assert reopened.opened
    assert reopened.alert_id != opened.alert_id
    row = owner_conn.execute(
        "select acknowledged_by, resolved_by, auto_resolved, seconds_to_acknowledge,"
        " seconds_to_resolve from alerts where alert_id = %s",
        (opened.alert_id,),
    ).fetchone()
    assert row == ("ana", "bo", False, 90.0, 7300.0)
    assert [d[1:] for d in deliveries(owner_conn, agent)] == [
        ("opened", 0, 0),
        ("acknowledged", 0, 0),
        ("resolved", 0, 1),
        ("opened", 0, 0),
    ]


def test_two_engines_racing_over_1000_alert_groups_queue_each_state_change_once(
    migrated_database: Any, owner_conn: psycopg.Connection, make_fleet: MakeFleet
) -> None:
    tenant_id, ids = make_fleet(1000)
    assert len(ids) == 1000
    add_webhook_channel(owner_conn, tenant_id, "http://127.0.0.1:9/x", "a")
    add_webhook_channel(owner_conn, tenant_id, "http://127.0.0.1:9/x", "b")

    async def engine_run(url: str, order: list[Any]) -> None:
        async with Database(url, max_size=4) as db:
            engine = AlertEngine(db)
            sem = asyncio.Semaphore(4)

            async def one(agent_id: Any) -> None:
                async with sem:
                    await engine.fire(Fire(tenant_id, agent_id, "circuit_opened", "open", at(0)))

            await asyncio.gather(*(one(a) for a in order))

    async def race() -> None:
        url = migrated_database.app_url
        await asyncio.gather(engine_run(url, ids), engine_run(url, ids[::-1]))

    asyncio.run(race())
    counts = owner_conn.execute(
        "select c.name, count(*), count(distinct d.alert_id) from alert_deliveries as d"
        " join notification_channels as c using (tenant_id, notification_channel_id)"
        " where d.tenant_id = %s group by c.name order by c.name",
        (tenant_id,),
    ).fetchall()
    assert counts == [("a", 1000, 1000), ("b", 1000, 1000)]
    alerts = owner_conn.execute(
        "select count(*), sum(occurrence_count), sum(suppressed_count) from alerts"
        " where tenant_id = %s",
        (tenant_id,),
    ).fetchone()
    assert alerts == (1000, 2000, 1000)


def test_a_clear_older_than_the_latest_firing_is_stale(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    """Signals decided in one order can commit in another: a clear decided before the latest
    firing must not start the alert's auto-resolution."""
    agent = make_agent()

    async def body(db: Database) -> Any:
        engine = AlertEngine(db)
        await engine.fire(fire(agent, 10))
        stale = await engine.clear(clear(agent, 5))
        fresh = await engine.clear(clear(agent, 15))
        return stale, fresh

    stale, fresh = run_with_db(migrated_database.app_url, body)
    assert stale is None
    assert fresh is not None
    row = owner_conn.execute(
        "select clear_since from alerts where agent_id = %s", (agent.agent_id,)
    ).fetchone()
    assert row == (at(15),)
