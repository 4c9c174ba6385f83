"""The worker's transitions become alerts delivered to a channel: an agent going critical
opens a health_critical alert whose signed webhook arrives from the alert loop without
waiting for its poll; recovering clears it, and the loop resolves it once it stayed clear.
The transitions' signals are checked as pure functions too."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from meta_agent.alerting.dispatch import Dispatcher, secret_reader
from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.alerting.webhook_sink import WebhookSink
from meta_agent.breaker.state import Cause, State, Transition
from meta_agent.db import Database
from meta_agent.events import channel
from meta_agent.settings import load_settings
from realtime.alerts import AlertLoop, breaker_signals, health_signals
from realtime.health.evaluate import Evaluation, Health
from realtime.health.record import Recorded
from realtime.windows import AgentKey
from realtime.worker import Worker
from tests.alerting.conftest import SINK_SECRET, SINK_SECRET_VAR, add_webhook_channel
from tests.realtime.test_worker import NOW_MS, agent_of, entry, run, xadd_all

AGENT = AgentKey(uuid.uuid4(), uuid.uuid4())


def recorded(to: Health, causes: frozenset[str] = frozenset()) -> Recorded:
    evaluation = Evaluation(to, True, "why", {}, causes)
    return Recorded(AGENT, Health.HEALTHY, evaluation, None, 2, NOW_MS, NOW_MS)


def kinds(signals: list[Any]) -> list[tuple[str, str]]:
    return [(type(s).__name__, s.alert_type) for s in signals]


def test_health_transitions_fire_and_clear_the_right_alerts() -> None:
    assert kinds(health_signals(recorded(Health.CRITICAL))) == [
        ("Fire", "health_critical"),
        ("Clear", "silence"),
    ]
    assert kinds(health_signals(recorded(Health.DEGRADED, frozenset({"silence"})))) == [
        ("Fire", "health_degraded"),
        ("Clear", "health_critical"),
        ("Fire", "silence"),
    ]
    assert kinds(health_signals(recorded(Health.HEALTHY))) == [
        ("Clear", "health_degraded"),
        ("Clear", "health_critical"),
        ("Clear", "silence"),
    ]
    assert health_signals(recorded(Health.UNKNOWN)) == []


def transition(to: State, frm: State = State.CLOSED, opens: int = 1) -> Transition:
    return Transition(
        frm, to, Cause.FAILURE_RATE, 3, NOW_MS, "worker", "failure rate 0.6", 20, 12, 0, 4, 0,
        opens, NOW_MS, NOW_MS + 1000, 0, 0, (), None, None,
    )  # fmt: skip


def test_breaker_transitions_open_and_close_the_circuit_alert() -> None:
    opened, half, closed = (
        transition(State.OPEN, opens=3),
        transition(State.HALF_OPEN, State.OPEN),
        transition(State.CLOSED, State.HALF_OPEN),
    )
    signals = breaker_signals(AGENT, [opened, half, closed])
    assert kinds(signals) == [("Fire", "circuit_opened"), ("Clear", "circuit_opened")]
    fire = signals[0]
    assert isinstance(fire, Fire)
    assert fire.details["consecutive_opens"] == 3
    assert isinstance(signals[1], Clear)


def test_a_critical_agent_is_alerted_through_the_loop_and_resolved_when_it_recovers(
    migrated_database: Any,
    redis_url: str,
    make_agent: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SINK_SECRET_VAR, SINK_SECRET)
    agent = agent_of(make_agent)
    stream = f"test:executions:{uuid.uuid4()}"
    clock = {"now": NOW_MS}
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as owner:
        owner.execute(
            'update tenants set settings = \'{"alerting": {"resolve_after_s": 0}}\''
            " where tenant_id = %s",
            (agent.tenant_id,),
        )
    with WebhookSink(SINK_SECRET) as sink:
        with psycopg.connect(migrated_database.owner_url, autocommit=True) as owner:
            add_webhook_channel(owner, agent.tenant_id, sink.url)

        async def body(db: Database, client: aioredis.Redis) -> Any:
            pubsub = client.pubsub()
            await pubsub.subscribe(channel(agent.tenant_id))
            await pubsub.get_message(timeout=5)
            dispatcher = Dispatcher(
                db, read_secret=secret_reader(load_settings()), private_addresses=True
            )
            # a poll far longer than the test: only the engine's wake-up can send in time
            alerts = AlertLoop(db, client, engine=AlertEngine(db), dispatcher=dispatcher, poll_s=60)
            stop = asyncio.Event()
            loop_task = asyncio.create_task(alerts.run(stop))
            worker = Worker(db, client, stream=stream, clock=lambda: clock["now"], alerts=alerts)
            successes = [entry(agent, at_ms=NOW_MS - 30_000 + i * 100) for i in range(30)]
            await xadd_all(client, stream, successes)
            await worker.run_until_idle()
            clock["now"] += 1_000
            failures = [
                entry(agent, status="failure", at_ms=NOW_MS - 5_000 + i * 100) for i in range(10)
            ]
            await xadd_all(client, stream, failures)
            await worker.run_until_idle()
            arrived = await asyncio.to_thread(
                sink.wait_for, lambda got: len(got) >= 1, timeout_s=10
            )
            events = []
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
                if message is None:
                    break
                events.append(json.loads(message["data"]))
            stop.set()
            await loop_task
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await dispatcher.aclose()
            return arrived, events

        arrived, events = run(migrated_database.app_url, redis_url, body, pool=8)
        assert arrived, "the critical alert did not reach the channel"
        first = sink.received[0]
        assert first.verified
        assert first.event == "alert.opened"
        assert first.body is not None
        assert first.body["alert"]["alert_type"] == "health_critical"
        assert first.body["alert"]["details"]["to_state"] == "critical"
        assert first.body["alert"]["title"] == "worker-test is critical"
    alert_events = [e for e in events if e["type"] == "alert"]
    assert [(e["alert_type"], e["state_change"]) for e in alert_events][:1] == [
        ("health_critical", "opened")
    ]
    with psycopg.connect(migrated_database.owner_url) as owner:
        rows = owner.execute(
            "select alert_type, status from alerts where agent_id = %s order by first_seen_at",
            (agent.agent_id,),
        ).fetchall()
    assert ("health_critical", "open") in rows


def test_one_alerts_signals_are_applied_in_their_order(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any]
) -> None:
    """A breaker that opened, closed and opened again in one batch ends with its alert open,
    for every one of many agents whose signals are applied at once."""
    agents = [agent_of(make_agent) for _ in range(30)]
    now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)

    async def body(db: Database, client: aioredis.Redis) -> Any:
        loop = AlertLoop(
            db,
            client,
            engine=AlertEngine(db),
            dispatcher=Dispatcher(db, read_secret=lambda *_: None),
        )
        signals: list[Fire | Clear] = []
        for agent in agents:
            for seconds, kind in ((0, "fire"), (1, "clear"), (2, "fire")):
                at = now + dt.timedelta(seconds=seconds)
                if kind == "fire":
                    signals.append(Fire(agent.tenant_id, agent.agent_id, "circuit_opened", "t", at))
                else:
                    signals.append(Clear(agent.tenant_id, agent.agent_id, "circuit_opened", at))
        await loop.apply(signals)
        await loop.dispatcher.aclose()

    run(migrated_database.app_url, redis_url, body, pool=8)
    with psycopg.connect(migrated_database.owner_url) as owner:
        rows = owner.execute(
            "select status, clear_since, occurrence_count from alerts where agent_id = any(%s)",
            ([a.agent_id for a in agents],),
        ).fetchall()
    assert rows == [("open", None, 2)] * 30
