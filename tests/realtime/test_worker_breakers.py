"""The worker drives the breakers from the ingest stream against the real Redis and Postgres:
failures open a breaker (recorded, published), a redelivered entry is not a second call,
probes reporting with their permit close it, and a probe that never reports reopens it at its
deadline even when nothing else arrives. And health is judged again within its interval only
when a failure arrives."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import redis.asyncio as aioredis

from meta_agent.breaker import (
    BreakerConfig,
    BreakerKey,
    Permit,
    RedisBreakerStore,
    permit_token,
    persist_transitions,
)
from meta_agent.db import Database
from meta_agent.events import channel
from realtime.health import HealthEvaluator
from realtime.windows import AgentKey, RedisWindows, parse_entry
from realtime.worker import Worker
from tests.realtime.test_worker import NOW_MS, agent_of, entry, run, xadd_all

FAST = {"open_duration_ms": 1_000, "half_open_permitted_probes": 2, "half_open_deadline_ms": 5_000}


def configure(owner: psycopg.Connection, agent: AgentKey, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    owner.execute(
        f"insert into circuit_breaker_configs (tenant_id, agent_id, {columns})"
        f" values (%s, %s, {placeholders})",
        (agent.tenant_id, agent.agent_id, *values.values()),
    )


def events(owner: psycopg.Connection, agent: AgentKey) -> list[tuple[str, str, str]]:
    return owner.execute(
        "select from_state, to_state, cause from circuit_breaker_events"
        " where agent_id = %s order by version",
        (agent.agent_id,),
    ).fetchall()


def test_failures_open_the_breaker_once_and_redelivery_counts_for_nothing(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any], owner_conn: Any
) -> None:
    agent = agent_of(make_agent)
    stream = f"test:executions:{uuid.uuid4()}"
    # default config: 20 minimum calls, failure rate 0.5, so 10 failures open it
    nine = [entry(agent, status="failure", at_ms=NOW_MS - 9_000 + i) for i in range(9)]

    async def body(db: Database, client: aioredis.Redis) -> Any:
        pubsub = client.pubsub()
        await pubsub.subscribe(channel(agent.tenant_id))
        await pubsub.get_message(timeout=5)
        worker = Worker(db, client, stream=stream, clock=lambda: NOW_MS)
        await xadd_all(client, stream, nine + nine)  # each announced twice
        await worker.run_until_idle()
        store = RedisBreakerStore(client)
        key = BreakerKey(agent.tenant_id, agent.agent_id)
        after_nine = await store.load(key)
        await xadd_all(client, stream, [entry(agent, status="failure", at_ms=NOW_MS - 100)])
        await worker.run_until_idle()
        after_ten = await store.load(key)
        published = []
        while (
            m := await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
        ) is not None:
            published.append(json.loads(m["data"]))
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        return after_nine, after_ten, published, worker.counters

    after_nine, after_ten, published, counters = run(migrated_database.app_url, redis_url, body)
    assert after_nine.state == "closed"
    assert after_nine.window.failures == 9
    assert after_ten.state == "open"
    assert events(owner_conn, agent) == [("closed", "open", "failure_rate")]
    breaker_messages = [m for m in published if m["type"] == "breaker"]
    assert [(m["to_state"], m["cause"]) for m in breaker_messages] == [("open", "failure_rate")]
    assert breaker_messages[0]["metrics"]["failures"] == 10
    # (the worker's deadline sweep may also move breakers other tests left half open)
    ours = [t for k, t in counters.breaker_transitions if k.agent_id == agent.agent_id]
    assert len(ours) == 1


def test_probes_reporting_with_their_permits_close_the_breaker(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any], owner_conn: Any
) -> None:
    agent = agent_of(make_agent)
    configure(owner_conn, agent, min_calls=2, **FAST)
    config = BreakerConfig(min_calls=2, **FAST)
    stream = f"test:executions:{uuid.uuid4()}"
    clock = {"now": NOW_MS}

    async def body(db: Database, client: aioredis.Redis) -> Any:
        worker = Worker(db, client, stream=stream, clock=lambda: clock["now"])
        failures = [entry(agent, status="failure", at_ms=NOW_MS - 1_000 + i) for i in range(2)]
        await xadd_all(client, stream, failures)
        await worker.run_until_idle()
        store = RedisBreakerStore(client)
        key = BreakerKey(agent.tenant_id, agent.agent_id)
        clock["now"] += 1_000  # the open period is over
        permits = []
        for _ in range(2):  # as the API hands them out: its transitions recorded
            acquired = await store.try_acquire(key, config, clock["now"])
            await persist_transitions(db, key, acquired.transitions)
            permits.append(acquired.decision)
        assert all(isinstance(p, Permit) for p in permits)
        # a success without a permit while half-open changes nothing; the probes' results do
        plain = entry(agent, at_ms=clock["now"] - 500)
        probes = [
            entry(agent, at_ms=clock["now"] - 200, circuit_permit=permit_token.encode(p))
            for p in permits
            if isinstance(p, Permit)
        ]
        await xadd_all(client, stream, [plain, probes[0]])
        await worker.run_until_idle()
        middle = await store.load(key)
        await xadd_all(client, stream, [probes[1]])
        await worker.run_until_idle()
        return middle, await store.load(key)

    middle, final = run(migrated_database.app_url, redis_url, body)
    assert middle.state == "half_open"
    assert middle.probes_succeeded == 1
    assert final.state == "closed"
    assert events(owner_conn, agent) == [
        ("closed", "open", "failure_rate"),
        ("open", "half_open", "open_elapsed"),
        ("half_open", "closed", "probe_succeeded"),
    ]


def test_a_probe_that_never_reports_reopens_the_breaker_at_its_deadline(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any], owner_conn: Any
) -> None:
    agent = agent_of(make_agent)
    configure(owner_conn, agent, min_calls=1, **FAST)
    config = BreakerConfig(min_calls=1, **FAST)
    stream = f"test:executions:{uuid.uuid4()}"
    clock = {"now": NOW_MS}

    async def body(db: Database, client: aioredis.Redis) -> Any:
        worker = Worker(db, client, stream=stream, clock=lambda: clock["now"])
        await xadd_all(client, stream, [entry(agent, status="failure", at_ms=NOW_MS - 10)])
        await worker.run_until_idle()
        store = RedisBreakerStore(client)
        key = BreakerKey(agent.tenant_id, agent.agent_id)
        clock["now"] += 1_000
        acquired = await store.try_acquire(key, config, clock["now"])
        assert isinstance(acquired.decision, Permit)
        await worker.step(None)  # before the deadline: nothing happens
        before = await store.load(key)
        clock["now"] += FAST["half_open_deadline_ms"]
        await worker.step(None)  # nothing arrives; the sweep judges the overdue probe
        return before, await store.load(key), await store.due_deadlines(clock["now"] + 10**9)

    before, after, still_watched = run(migrated_database.app_url, redis_url, body)
    assert before.state == "half_open"
    assert after.state == "open"
    assert after.consecutive_opens == 2  # the backoff grows
    assert BreakerKey(agent.tenant_id, agent.agent_id) not in still_watched
    assert events(owner_conn, agent)[-1] == ("half_open", "open", "probe_deadline")


def test_health_is_judged_again_within_its_interval_only_after_a_failure(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any]
) -> None:
    agent = agent_of(make_agent)
    successes = [entry(agent, at_ms=NOW_MS - 30_000 + i * 100) for i in range(30)]
    failures = [entry(agent, status="failure", at_ms=NOW_MS - 1_000 + i) for i in range(10)]

    async def body(db: Database, client: aioredis.Redis) -> Any:
        evaluator = HealthEvaluator(db, client, min_interval_s=3_600)
        windows = RedisWindows(client)
        await windows.apply([parse_entry(e) for e in successes], NOW_MS)
        first = await evaluator.evaluate_agents([agent], NOW_MS)
        await windows.apply([parse_entry(e) for e in failures], NOW_MS)
        quiet = await evaluator.evaluate_agents([agent], NOW_MS)  # within the interval
        urgent = await evaluator.evaluate_agents([agent], NOW_MS, urgent={agent})
        return first, quiet, urgent

    first, quiet, urgent = run(migrated_database.app_url, redis_url, body)
    assert [r.evaluation.state for r in first] == ["healthy"]
    assert quiet == []
    assert [r.evaluation.state for r in urgent] == ["critical"]
