"""A Redis that comes back empty gets its windows and breakers back from Postgres: the windows
read exactly what the stream had made of the same executions, executions that only reached
Postgres while Redis was away count too, nothing counts twice however often or concurrently
recovery runs, and the function that lists tenants past RLS tells the app role nothing else.

The stream path below is the worker's for the windows (`Worker.handle`): each stored row
becomes a stream entry (`execution_entry`), is read back, parsed (`parse_entry`) and applied
with the agent's slow-call threshold from its profile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
import pytest
import redis.asyncio as aioredis

from meta_agent import migrations, tenants
from meta_agent.breaker import (
    BreakerConfig,
    BreakerKey,
    Outcome,
    RedisBreakerStore,
    Rejected,
    State,
    persist_transitions,
)
from meta_agent.db import Database
from meta_agent.stream import execution_entry
from realtime.health import ProfileCache
from realtime.recovery import (
    LOCK_KEY,
    Recovery,
    finished_executions,
    mark_windows_rebuilt,
    rebuild_windows,
    recover_if_lost,
    window_start_ms,
    windows_need_rebuild,
)
from realtime.windows import DEFAULT_SLOW_CALL_MS, AgentKey, RedisWindows, parse_entry
from realtime.worker import Worker
from tests.realtime.test_worker import run as run_in_worker_context

pytestmark = pytest.mark.integration

T = TypeVar("T")
MINUTE = 60_000
Row = dict[str, Any]


@pytest.fixture(scope="module")
def owner(migrated_database: Any) -> Iterator[psycopg.Connection]:
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        today = dt.datetime.now(dt.UTC).date()
        for table in ("raw.executions", "raw.actions"):
            conn.execute(
                "select app.ensure_daily_partitions(%s::regclass, %s, %s)",
                (table, today - dt.timedelta(days=4), today + dt.timedelta(days=1)),
            )
        yield conn


@pytest.fixture
def now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_agents(
    owner: psycopg.Connection, count: int, tenant_id: uuid.UUID | None = None
) -> list[AgentKey]:
    tenant_id = tenant_id or tenants.create_tenant(owner, f"recovery-{uuid.uuid4().hex[:10]}")
    agents = []
    for _ in range(count):
        row = owner.execute(
            "insert into agents (tenant_id, name) values (%s, %s) returning agent_id",
            (tenant_id, f"agent-{uuid.uuid4().hex[:8]}"),
        ).fetchone()
        assert row is not None
        agents.append(AgentKey(tenant_id, row[0]))
    return agents


def execution(
    agent: AgentKey,
    ended_ms: int,
    *,
    status: str = "success",
    duration_ms: float | None = 200,
    cost: str = "0.00012345",
    variant: tuple[uuid.UUID | None, str | None] = (None, None),
) -> Row:
    """One raw.executions row that ended (or, running, started) at `ended_ms`."""
    running = status == "running"
    started_ms = ended_ms - (0 if running or duration_ms is None else int(duration_ms))
    started = dt.datetime.fromtimestamp(started_ms / 1000, dt.UTC)
    return {
        "execution_id": uuid.uuid4(),
        "tenant_id": agent.tenant_id,
        "agent_id": agent.agent_id,
        "started_at": started,
        "ended_at": None if running else started + dt.timedelta(milliseconds=duration_ms or 0),
        "duration_ms": None if running else duration_ms,
        "status": status,
        "prompt_version_id": variant[0],
        "variant": variant[1],
        "input_tokens": 1_000 + ended_ms % 97,
        "output_tokens": 100 + ended_ms % 13,
        "cost_usd": Decimal(cost),
        "error_type": None if status in ("success", "running") else "Upstream",
    }


def fleet_rows(agents: Sequence[AgentKey], now_ms: int, count: int, seed: int) -> list[Row]:
    """Executions of `agents` ending over the last 70 minutes: every status, durations from
    1 ms to 40 s, two variants, and one execution that ran for almost three hours."""
    rng = random.Random(seed)
    version = uuid.uuid4()
    rows = [
        execution(
            rng.choice(agents),
            now_ms - rng.randrange(70 * MINUTE),
            status=rng.choice(["success"] * 6 + ["failure", "timeout", "cancelled", "running"]),
            duration_ms=rng.choice([1, rng.randrange(2, 40_000), rng.randrange(100, 3_000)]),
            cost=f"{rng.randrange(10**6) / 10**8:.8f}",
            variant=rng.choice([(None, None), (version, "control"), (version, None)]),
        )
        for _ in range(count)
    ]
    edge = window_start_ms(now_ms)
    rows += [
        execution(agents[0], edge),  # the oldest end the 1-hour window still counts
        execution(agents[0], edge - 1),  # a millisecond too old
        execution(agents[-1], now_ms - 5 * MINUTE, duration_ms=175 * MINUTE),
    ]
    # the latest execution of each agent succeeds: consecutive failures then start in the window
    rows += [execution(agent, now_ms - 1_000) for agent in agents]
    return rows


def store(owner: psycopg.Connection, rows: Sequence[Row]) -> None:
    """Write rows into raw.executions as the owner (COPY, like the simulator)."""
    columns = list(rows[0])
    with owner.cursor().copy(f"copy raw.executions ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


async def stream_apply(
    db: Database, client: aioredis.Redis, windows: RedisWindows, rows: Sequence[Row], now_ms: int
) -> None:
    """The worker's path: announce on a stream, read back, parse, apply."""
    stream = f"test:recovery:{uuid.uuid4()}"
    async with client.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.xadd(stream, execution_entry(row))  # type: ignore[arg-type]
        await pipe.execute()
    executions = [parse_entry(fields) for _, fields in await client.xrange(stream)]
    await client.delete(stream)
    agents = list(dict.fromkeys(e.agent for e in executions))
    profiles = await ProfileCache(db).get_many(agents)
    slow = {
        agent: p.thresholds.slow_call_threshold_ms if p else DEFAULT_SLOW_CALL_MS
        for agent, p in profiles.items()
    }
    await windows.apply(executions, now_ms, slow)


async def snapshot(
    windows: RedisWindows, agents: Sequence[AgentKey], now_ms: int
) -> dict[Any, Any]:
    """Everything the windows say about `agents` at `now_ms`, variants included."""
    seen: dict[Any, Any] = {}
    for agent in agents:
        seen[agent] = await windows.read(agent, now_ms)
        for variant in await windows.variants(agent):
            seen[agent, variant] = await windows.read(agent, now_ms, variant=variant)
    return seen


def run(
    app_url: str, redis_url: str, body: Callable[[Database, aioredis.Redis], Awaitable[T]]
) -> T:
    # a rebuild reads through a cursor while it looks up thresholds: two connections at once
    return run_in_worker_context(app_url, redis_url, body, pool=6)


def set_thresholds(owner: psycopg.Connection, agents: Sequence[AgentKey]) -> None:
    """Three ways to a slow-call threshold: its own, the SLA's p95, the default (60 s)."""
    owner.execute(
        "insert into agent_health_thresholds (tenant_id, agent_id, slow_call_ms) values (%s, %s, 500)",
        (agents[0].tenant_id, agents[0].agent_id),
    )
    owner.execute("update agents set sla_p95_ms = 5000 where agent_id = %s", (agents[1].agent_id,))


def test_a_lost_redis_gets_back_exactly_the_windows_the_stream_made(
    migrated_database: Any, lost_redis: str, owner: psycopg.Connection, now_ms: int
) -> None:
    agents = make_agents(owner, 3) + make_agents(owner, 1)
    set_thresholds(owner, agents)
    rows = fleet_rows(agents, now_ms, 1_500, seed=1)
    store(owner, rows)

    async def body(db: Database, client: aioredis.Redis) -> None:
        windows = RedisWindows(client)
        await stream_apply(db, client, windows, rows, now_ms)
        before = await snapshot(windows, agents, now_ms)
        assert sum(before[a].one_hour.slow_calls for a in agents[:2]) > 0  # thresholds matter

        await client.flushall()
        assert await windows_need_rebuild(client)
        assert (await windows.read(agents[0], now_ms)).one_hour.executions == 0
        recovery = await recover_if_lost(
            db, client, windows=windows, breakers=RedisBreakerStore(client), now_ms=now_ms
        )

        assert recovery is not None
        assert recovery.complete
        counted = sum(before[a].one_hour.executions for a in agents)
        assert recovery.executions_applied >= counted  # other tests' tenants count too
        assert await snapshot(windows, agents, now_ms) == before
        assert not await windows_need_rebuild(client)
        assert not await client.exists(LOCK_KEY)

    run(migrated_database.app_url, lost_redis, body)


def test_executions_read_back_mean_what_their_stream_entries_mean(
    migrated_database: Any, owner: psycopg.Connection, now_ms: int
) -> None:
    agents = make_agents(owner, 2)
    rows = fleet_rows(agents, now_ms, 300, seed=2)
    store(owner, rows)
    since = window_start_ms(now_ms)

    async def body(db: Database, _: aioredis.Redis) -> None:
        found = [
            e
            async for batch in finished_executions(db, agents[0].tenant_id, since_ms=since)
            for e in batch
        ]
        expected = [parse_entry(execution_entry(r)) for r in rows]
        # a superset by a second at the edge, which apply then decides exactly
        wanted = {e for e in expected if e.finished and e.ended_ms >= since - 1_000}
        assert set(found) == wanted
        assert len(found) == len(wanted)

    run(migrated_database.app_url, "redis://unused", body)


def test_executions_stored_while_redis_was_down_count_after_recovery(
    migrated_database: Any, lost_redis: str, owner: psycopg.Connection, now_ms: int
) -> None:
    agents = make_agents(owner, 3)
    announced = fleet_rows(agents, now_ms - 20 * MINUTE, 400, seed=3)  # before Redis went
    unannounced = fleet_rows(agents, now_ms, 400, seed=4)  # while it was away
    unannounced.append(execution(agents[1], now_ms - 3 * MINUTE, duration_ms=130 * MINUTE))
    store(owner, announced)
    fractional = execution(agents[2], now_ms - 2 * MINUTE, duration_ms=1234.75)

    async def body(db: Database, client: aioredis.Redis) -> None:
        windows = RedisWindows(client)
        await stream_apply(db, client, windows, announced, now_ms - 20 * MINUTE)
        await client.flushall()
        store(owner, [*unannounced, fractional])

        recovery = await recover_if_lost(
            db, client, windows=windows, breakers=RedisBreakerStore(client), now_ms=now_ms
        )
        assert recovery is not None

        reference = RedisWindows(client, prefix="test:reference")
        await stream_apply(db, client, reference, announced + unannounced, now_ms)
        expected = await snapshot(reference, agents, now_ms)
        rebuilt = await snapshot(windows, agents, now_ms)
        # the one stream entries cannot carry yet (a fractional duration) counts as 1234 ms
        assert rebuilt[agents[2]].five_minutes.executions == (
            expected[agents[2]].five_minutes.executions + 1
        )
        await reference.apply(
            [parse_entry(execution_entry(fractional | {"duration_ms": 1234}))], now_ms
        )
        assert rebuilt == await snapshot(reference, agents, now_ms)
        assert rebuilt[agents[1]].one_hour.executions > 0

    run(migrated_database.app_url, lost_redis, body)


def test_recovery_run_again_or_at_once_by_several_workers_counts_nothing_twice(
    migrated_database: Any, lost_redis: str, owner: psycopg.Connection, now_ms: int
) -> None:
    agents = make_agents(owner, 4)
    rows = fleet_rows(agents, now_ms, 1_000, seed=5)
    store(owner, rows)

    async def body(db: Database, client: aioredis.Redis) -> None:
        reference = RedisWindows(client, prefix="test:reference")
        await stream_apply(db, client, reference, rows, now_ms)
        expected = await snapshot(reference, agents, now_ms)

        clients = [aioredis.Redis.from_url(lost_redis) for _ in range(3)]
        try:
            recoveries = await asyncio.gather(
                *(
                    recover_if_lost(
                        db, c, windows=RedisWindows(c), breakers=RedisBreakerStore(c), now_ms=now_ms
                    )
                    for c in clients
                )
            )
        finally:
            for c in clients:
                await c.aclose()
        assert sum(isinstance(r, Recovery) for r in recoveries) == 1
        assert recoveries.count(None) == 2

        windows = RedisWindows(client)
        assert await snapshot(windows, agents, now_ms) == expected
        breakers = RedisBreakerStore(client)
        again = await recover_if_lost(db, client, windows=windows, breakers=breakers, now_ms=now_ms)
        assert again is None
        assert await rebuild_windows(db, windows, now_ms) == 0
        assert await snapshot(windows, agents, now_ms) == expected

        # the stream worker applying the same executions during a rebuild
        await client.flushall()
        await asyncio.gather(
            rebuild_windows(db, windows, now_ms, batch_size=100),
            stream_apply(db, client, windows, rows, now_ms),
        )
        assert await snapshot(windows, agents, now_ms) == expected

    run(migrated_database.app_url, lost_redis, body)


def test_recovery_waits_for_a_worker_holding_the_lock(
    migrated_database: Any, lost_redis: str, now_ms: int
) -> None:
    async def body(db: Database, client: aioredis.Redis) -> None:
        windows, breakers = RedisWindows(client), RedisBreakerStore(client)
        await client.set(LOCK_KEY, "another worker", px=60_000)
        assert (
            await recover_if_lost(db, client, windows=windows, breakers=breakers, now_ms=now_ms)
            is None
        )
        assert await windows_need_rebuild(client)
        await client.delete(LOCK_KEY)
        assert await recover_if_lost(db, client, windows=windows, breakers=breakers, now_ms=now_ms)
        assert not await windows_need_rebuild(client)
        assert not await breakers.needs_restore()

    run(migrated_database.app_url, lost_redis, body)


def test_the_rebuild_applies_bounded_batches_with_the_thresholds_it_is_given(
    migrated_database: Any, lost_redis: str, owner: psycopg.Connection, now_ms: int
) -> None:
    agents = make_agents(owner, 2)
    rows = fleet_rows(agents, now_ms, 500, seed=6)
    store(owner, rows)

    async def body(db: Database, client: aioredis.Redis) -> None:
        totals: list[int] = []

        async def progress(applied: int) -> None:
            totals.append(applied)

        async def everything_is_slow(wanted: Sequence[AgentKey]) -> dict[AgentKey, int]:
            return dict.fromkeys(wanted, 1)

        windows = RedisWindows(client)
        await rebuild_windows(
            db, windows, now_ms, slow_call_ms=everything_is_slow, batch_size=50, on_batch=progress
        )
        steps = [b - a for a, b in zip([0, *totals], totals, strict=False)]
        assert len(steps) > 10
        assert max(steps) <= 50
        for agent in agents:
            hour = (await windows.read(agent, now_ms)).one_hour
            assert hour.slow_calls == hour.executions > 0

        nothing_is_slow = RedisWindows(client, prefix="test:mapping")
        await rebuild_windows(
            db, nothing_is_slow, now_ms, slow_call_ms=dict.fromkeys(agents, 10**9)
        )
        assert (await nothing_is_slow.read(agents[0], now_ms)).one_hour.slow_calls == 0

    run(migrated_database.app_url, lost_redis, body)


def test_a_breaker_persisted_open_is_open_again_after_recovery(
    migrated_database: Any, lost_redis: str, owner: psycopg.Connection, now_ms: int
) -> None:
    (agent,) = make_agents(owner, 1)
    key = BreakerKey(agent.tenant_id, agent.agent_id)
    config = BreakerConfig(consecutive_failures_threshold=3, open_duration_ms=600_000)

    async def body(db: Database, client: aioredis.Redis) -> None:
        breakers = RedisBreakerStore(client)
        for _ in range(3):
            changed = await breakers.on_result(key, config, None, Outcome.FAILURE, 10, now_ms)
            await persist_transitions(db, key, changed)
        assert (await breakers.load(key)).state is State.OPEN
        await mark_windows_rebuilt(client, now_ms)
        await breakers.mark_restored(now_ms)

        await client.flushall()
        assert (await breakers.load(key)).state is State.CLOSED  # what a lost Redis says
        recovery = await recover_if_lost(
            db, client, windows=RedisWindows(client), breakers=breakers, now_ms=now_ms + 1
        )

        assert recovery is not None
        assert recovery.breakers_restored >= 1
        assert (await breakers.load(key)).state is State.OPEN
        refusal = (await breakers.try_acquire(key, config, now_ms + 1_000)).decision
        assert isinstance(refusal, Rejected)
        assert refusal.state is State.OPEN

    run(migrated_database.app_url, lost_redis, body)


def test_the_tenant_list_tells_the_app_role_nothing_but_recent_tenant_ids(
    migrated_database: Any, owner: psycopg.Connection, now_ms: int
) -> None:
    (recent,) = make_agents(owner, 1)
    (long_ago,) = make_agents(owner, 1)
    (long_running,) = make_agents(owner, 1)
    (silent,) = make_agents(owner, 1)
    store(
        owner,
        [
            execution(recent, now_ms - 30 * MINUTE),
            execution(long_ago, now_ms - 3 * 86_400_000),
            # started two days ago, ended twenty minutes ago
            execution(long_running, now_ms - 20 * MINUTE, duration_ms=2 * 86_400_000),
        ],
    )
    function = "app.tenants_with_executions_since(timestamptz)"
    with psycopg.connect(migrated_database.app_url, autocommit=True) as app:
        listed = {
            row[0]
            for row in app.execute(
                "select app.tenants_with_executions_since(now() - interval '1 hour')"
            )
        }
        # `since` cannot reach further back than a day
        from_the_start = {
            row[0] for row in app.execute("select app.tenants_with_executions_since('-infinity')")
        }
        seen_directly = app.execute("select count(*) from raw.executions").fetchone()
        grants = app.execute(
            "select has_function_privilege('public', %s, 'execute'),"
            " has_function_privilege('meta_agent_app', %s, 'execute')",
            (function, function),
        ).fetchone()
        shape = app.execute(
            "select prorettype::regtype::text, proretset, prosecdef, proconfig"
            " from pg_proc where oid = %s::regprocedure",
            (function,),
        ).fetchone()

    assert {recent.tenant_id, long_running.tenant_id} <= listed
    assert not {long_ago.tenant_id, silent.tenant_id} & (listed | from_the_start)
    assert seen_directly == (0,)  # RLS still shows the app role nothing without a tenant
    assert grants == (False, True)
    assert shape == ("uuid", True, True, ["search_path=pg_catalog, public"])


def test_a_fresh_deployment_recovers_from_nothing_at_once(
    fresh_database: Any, lost_redis: str, now_ms: int
) -> None:
    migrations.migrate(fresh_database.owner_url)

    async def body(db: Database, client: aioredis.Redis) -> None:
        windows, breakers = RedisWindows(client), RedisBreakerStore(client)
        first = await recover_if_lost(db, client, windows=windows, breakers=breakers, now_ms=now_ms)
        assert first is not None
        assert (first.executions_applied, first.breakers_restored, first.complete) == (0, 0, True)
        assert await client.dbsize() == 2  # the two markers, nothing else
        assert (
            await recover_if_lost(db, client, windows=windows, breakers=breakers, now_ms=now_ms)
            is None
        )

    run(fresh_database.app_url, lost_redis, body)


def test_a_running_worker_rebuilds_the_windows_when_redis_is_flushed_under_it(
    migrated_database: Any, lost_redis: str, owner: psycopg.Connection, now_ms: int
) -> None:
    agents = make_agents(owner, 3)
    rows = fleet_rows(agents, now_ms, 300, seed=11)
    store(owner, rows)

    async def body(db: Database, client: aioredis.Redis) -> Any:
        windows = RedisWindows(client)
        await stream_apply(db, client, windows, rows, now_ms)
        before = await snapshot(windows, agents, now_ms)
        worker = Worker(db, client, clock=lambda: now_ms, block_ms=50)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            await until(lambda: len(worker.counters.recoveries) == 1)  # markers absent at start
            await client.flushall()
            await until(lambda: len(worker.counters.recoveries) == 2)
            after = await snapshot(windows, agents, now_ms)
        finally:
            stop.set()
            await task
        return before, after, worker.counters.recoveries

    before, after, recoveries = run(migrated_database.app_url, lost_redis, body)
    assert after == before
    assert recoveries[1].executions_applied > 0
    assert recoveries[1].complete


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
