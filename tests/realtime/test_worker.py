"""The worker against the real Redis and Postgres: two workers on one stream apply every
execution exactly once; a dead consumer's entries are taken over; a health transition reaches
Postgres and the tenant's channel; `python -m realtime` stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import redis
import redis.asyncio as aioredis

from meta_agent.db import Database
from meta_agent.stream import EXECUTIONS_STREAM, execution_entry
from realtime.health import Health, channel
from realtime.health.evaluator import SWEEP_LOCK_KEY
from realtime.windows import AgentKey, RedisWindows
from realtime.worker import Worker

T = TypeVar("T")
NOW_MS = 1_800_000_000_000


def entry(
    agent: AgentKey, *, status: str = "success", at_ms: int = NOW_MS - 5_000, **row: Any
) -> dict[str, str]:
    fields = {
        "tenant_id": agent.tenant_id,
        "agent_id": agent.agent_id,
        "execution_id": uuid.uuid4(),
        "status": status,
        "started_at": dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC),
        "duration_ms": 120,
        "cost_usd": "0.0012",
        "input_tokens": 100,
        "output_tokens": 20,
        "prompt_version_id": None,
        "variant": None,
        "error_type": None if status == "success" else "Upstream",
    }
    return execution_entry(fields | row)


def agent_of(make_agent: Callable[[], AgentKey]) -> AgentKey:
    return make_agent()


def run(
    app_url: str,
    redis_url: str,
    body: Callable[[Database, aioredis.Redis], Awaitable[T]],
    *,
    pool: int = 4,
) -> T:
    """Run `body` with a database pool of the app role and a Redis client."""

    async def main() -> T:
        client = aioredis.Redis.from_url(redis_url)
        try:
            async with Database(app_url, max_size=pool) as db:
                return await body(db, client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def queued(agent: AgentKey, count: int, since_ms: int) -> tuple[str, list[dict[str, str]]]:
    """A stream of the test's own, and `count` entries of `agent` ending 1 ms apart from
    `since_ms`."""
    return f"test:executions:{uuid.uuid4()}", [
        entry(agent, at_ms=since_ms + i) for i in range(count)
    ]


async def xadd_all(client: aioredis.Redis, stream: str, entries: list[dict[str, str]]) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for fields in entries:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        await pipe.execute()


def test_two_workers_apply_every_execution_exactly_once(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any]
) -> None:
    agents = [agent_of(make_agent) for _ in range(3)]
    entries = [entry(agents[i % 3], at_ms=NOW_MS - 60_000 + i * 50) for i in range(900)]
    redelivered = entries[100:160]  # the same executions announced twice
    stream = f"test:executions:{uuid.uuid4()}"

    async def body(db: Database, client: aioredis.Redis) -> Any:
        await xadd_all(client, stream, entries + redelivered)
        workers = [
            Worker(db, client, stream=stream, clock=lambda: NOW_MS, batch_size=40) for _ in range(2)
        ]
        await asyncio.gather(*(w.run_until_idle() for w in workers))
        windows = RedisWindows(client)
        counts = [(await windows.read(a, NOW_MS)).five_minutes.executions for a in agents]
        pending = await client.xpending(stream, "realtime")
        return workers, counts, pending

    workers, counts, pending = run(migrated_database.app_url, redis_url, body)
    assert counts == [300, 300, 300]
    assert sum(w.counters.applied for w in workers) == 900
    assert sum(w.counters.duplicates for w in workers) == 60
    assert sum(w.counters.acked for w in workers) == 960
    assert all(w.counters.applied > 0 for w in workers)  # both took part
    assert pending["pending"] == 0


def test_a_dead_consumers_entries_are_claimed_by_another(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any]
) -> None:
    agent = agent_of(make_agent)
    stream, entries = queued(agent, 100, NOW_MS - 10_000)

    async def body(db: Database, client: aioredis.Redis) -> Any:
        await xadd_all(client, stream, entries)
        dead = Worker(db, client, stream=stream, clock=lambda: NOW_MS, batch_size=30)
        await dead.ensure_group()
        read_only = await dead.read(None)  # died before applying
        applied_unacked = await dead.read(None)  # died after applying, before XACK
        await dead.windows.apply([_parse(f) for _, f in applied_unacked], NOW_MS)
        alive = Worker(db, client, stream=stream, clock=lambda: NOW_MS, claim_idle_ms=0)
        await alive.run_until_idle()
        summary = await client.xpending(stream, "realtime")
        read = await alive.windows.read(agent, NOW_MS)
        return len(read_only), len(applied_unacked), alive.counters, summary, read

    n_read, n_applied, counters, summary, read = run(migrated_database.app_url, redis_url, body)
    assert (n_read, n_applied) == (30, 30)
    assert counters.claimed == 60
    assert counters.applied == 70  # the 30 applied by the dead consumer do not count twice
    assert counters.duplicates == 30
    assert read.five_minutes.executions == 100
    assert summary["pending"] == 0


def _parse(fields: Any) -> Any:
    from realtime.windows import parse_entry

    return parse_entry(fields)


def test_a_transition_reaches_postgres_and_the_tenants_channel(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any]
) -> None:
    agent = agent_of(make_agent)
    other_tenant_agent = agent_of(make_agent)
    stream = f"test:executions:{uuid.uuid4()}"
    clock = {"now": NOW_MS}

    async def body(db: Database, client: aioredis.Redis) -> Any:
        pubsub = client.pubsub()
        await pubsub.subscribe(channel(agent.tenant_id))
        await pubsub.get_message(timeout=5)  # the subscribe confirmation
        worker = Worker(db, client, stream=stream, clock=lambda: clock["now"])
        successes = [entry(agent, at_ms=NOW_MS - 30_000 + i * 100) for i in range(30)]
        await xadd_all(client, stream, [*successes, entry(other_tenant_agent)])
        await worker.run_until_idle()
        clock["now"] += 1_000
        failures = [
            entry(agent, status="failure", at_ms=NOW_MS - 5_000 + i * 100) for i in range(10)
        ]
        await xadd_all(client, stream, failures)
        await worker.run_until_idle()
        messages: list[dict[str, Any]] = []
        while len(messages) < 2:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
            assert message is not None, "a transition was not published"
            messages.append(json.loads(message["data"]))
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        return messages

    messages = run(migrated_database.app_url, redis_url, body)
    assert [(m["from_state"], m["to_state"], m["version"]) for m in messages] == [
        ("unknown", "healthy", 1),
        ("healthy", "critical", 2),
    ]
    assert {m["agent_id"] for m in messages} == {str(agent.agent_id)}
    assert messages[1]["metrics"]["consecutive_failures"] == 10
    assert messages[1]["metrics"]["five_minutes"]["executions"] == 40
    with psycopg.connect(migrated_database.owner_url) as conn:
        row = conn.execute(
            "select state, version, executions_5m, failures_5m, consecutive_failures"
            " from agent_health_realtime where agent_id = %s",
            (agent.agent_id,),
        ).fetchone()
        history = conn.execute(
            "select from_state, to_state, version, metrics -> 'consecutive_failures'"
            " from agent_health_transitions where agent_id = %s order by version",
            (agent.agent_id,),
        ).fetchall()
    assert row == ("critical", 2, 40, 10, 10)
    assert history == [("unknown", "healthy", 1, 0), ("healthy", "critical", 2, 10)]


def test_python_m_realtime_consumes_the_ingest_stream_and_stops_on_sigterm(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any]
) -> None:
    agent = agent_of(make_agent)
    now_ms = time.time_ns() // 1_000_000
    client = redis.Redis.from_url(redis_url)
    client.xadd(EXECUTIONS_STREAM, entry(agent, at_ms=now_ms - 1_000))  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")} | {
        "METAAGENT_DATABASE_URL": migrated_database.owner_url,
        "METAAGENT_APP_DATABASE_URL": migrated_database.app_url,
        "METAAGENT_REDIS_URL": redis_url,
        "METAAGENT_HOME": tempfile.mkdtemp(prefix="realtime home "),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "realtime"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        key = f"metaagent:health:{{{agent.tenant_id}:{agent.agent_id}}}"
        deadline = time.monotonic() + 60  # generous: waits for the event, asserts no speed
        # the key is seeded (unknown) a moment before the transition to healthy is committed
        while client.hget(key, "st") != b"healthy" and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.05)
        assert client.hget(key, "st") == b"healthy"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        client.close()
    assert process.returncode == 0, stderr
    assert "stopped" in stderr


def test_the_sweep_finds_an_agent_that_went_silent_and_bad_entries_are_skipped(
    migrated_database: Any, redis_url: str, make_agent: Callable[[], AgentKey]
) -> None:
    agent = agent_of(make_agent)
    stream = f"test:executions:{uuid.uuid4()}"
    clock = {"now": NOW_MS}
    bad = [{"tenant_id": "not-a-uuid", "status": "success"}, entry(agent, status="exploded")]

    async def body(db: Database, client: aioredis.Redis) -> Any:
        worker = Worker(db, client, stream=stream, clock=lambda: clock["now"])
        steady = [entry(agent, at_ms=NOW_MS - 50 * 60_000 + i * 60_000) for i in range(50)]
        await xadd_all(client, stream, [*steady, *bad])
        await worker.run_until_idle()
        before = await worker.evaluator.store.load(agent)
        clock["now"] += 16 * 60_000
        await client.delete(SWEEP_LOCK_KEY)  # another test's sweep may hold this turn
        swept = await worker.evaluator.sweep(clock["now"])
        return worker.counters, before, swept, await client.xpending(stream, "realtime")

    counters, before, swept, pending = run(migrated_database.app_url, redis_url, body)
    assert (counters.applied, counters.bad, counters.acked) == (50, 2, 52)
    assert pending["pending"] == 0
    assert before is not None
    assert before[0].state is Health.HEALTHY
    assert swept is not None
    mine = [r for r in swept if r.agent == agent]
    assert [(r.from_state, r.evaluation.state) for r in mine] == [(Health.HEALTHY, Health.DEGRADED)]
    assert "silent for 16 min" in mine[0].evaluation.reason
