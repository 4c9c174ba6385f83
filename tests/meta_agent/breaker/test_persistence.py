"""Postgres as the breakers' record: an audit row per transition and the state row, written
idempotently under RLS, and the Redis state rebuilt from them after a FLUSHALL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from meta_agent.breaker import (
    BreakerConfig,
    BreakerKey,
    Cause,
    Outcome,
    Permit,
    PermitKind,
    RedisBreakerStore,
    Rejected,
    State,
    Transition,
    WindowKind,
    core,
    persist_many,
    persist_transitions,
    restore_from_postgres,
)
from meta_agent.breaker.persistence import breaker_tenants, load_config, state_from_row
from meta_agent.breaker.state import to_datetime
from meta_agent.db import Database
from tests.meta_agent.breaker.support import redis_store

T = TypeVar("T")
T0 = 1_767_225_600_000
CONFIG = BreakerConfig(
    window_size=10,
    min_calls=4,
    slow_call_duration_ms=1_000,
    slow_call_rate_threshold=0.75,
    consecutive_failures_threshold=3,
    open_duration_ms=10_000,
    half_open_permitted_probes=2,
    half_open_deadline_ms=5_000,
)


def run(
    app_url: str,
    redis_url: str,
    body: Callable[[Database, RedisBreakerStore], Coroutine[Any, Any, T]],
) -> T:
    async def main() -> T:
        async with Database(app_url) as db, redis_store(redis_url) as store:
            return await body(db, store)

    return asyncio.run(main())


class Recorder:
    """Runs store operations on one breaker and persists what they cause, as the worker will."""

    def __init__(self, db: Database, store: RedisBreakerStore, key: BreakerKey) -> None:
        self.db, self.store, self.key = db, store, key
        self.transitions: list[Transition] = []

    async def keep(self, transitions: tuple[Transition, ...]) -> tuple[Transition, ...]:
        await persist_transitions(self.db, self.key, transitions)
        self.transitions += transitions
        return transitions

    async def acquire(self, now: int) -> Permit | Rejected:
        acquisition = await self.store.try_acquire(self.key, CONFIG, now)
        await self.keep(acquisition.transitions)
        return acquisition.decision

    async def report(self, permit: Any, outcome: Outcome, duration: int, now: int) -> None:
        await self.keep(
            await self.store.on_result(self.key, CONFIG, permit, outcome, duration, now)
        )

    async def fail(self, count: int, now: int, duration: int = 10) -> None:
        for _ in range(count):
            await self.report(None, Outcome.FAILURE, duration, now)


async def every_cause(rec: Recorder) -> None:
    """Drive one breaker through every kind of transition the events table knows."""
    store, key, now = rec.store, rec.key, T0
    for _ in range(3):  # slow successes: 3 of max(3, 4) reaches 0.75
        await rec.report(None, Outcome.SUCCESS, 5_000, now)
    now += 10_000
    probe = await rec.acquire(now)  # open_elapsed
    await rec.report(probe, Outcome.FAILURE, 10, now)  # probe_failed, open for 20 s
    now += 20_000
    hung = await rec.acquire(now)
    assert isinstance(hung, Permit)
    assert hung.deadline_ms is not None
    await rec.keep(await store.advance(key, CONFIG, hung.deadline_ms))  # probe_deadline, 40 s
    now = hung.deadline_ms + 40_000
    first = await rec.acquire(now)
    await rec.report(first, Outcome.SUCCESS, 10, now)
    # half open with no probe out: a config change must still make a valid state row
    await rec.keep(await store.reconfigure(key, CONFIG, "ops@example.com", "", now))
    second = await rec.acquire(now)
    await rec.report(second, Outcome.SUCCESS, 10, now)  # probe_succeeded
    for _ in range(5):
        await rec.report(None, Outcome.SUCCESS, 10, now)
    await rec.fail(3, now)  # consecutive_failures: 3 in a row, only 3 of 8 calls
    await rec.keep(await store.reset(key, CONFIG, "ops@example.com", "checked", now))
    await rec.fail(2, now)  # failure_rate: 2 of max(2, 4)
    await rec.keep(
        await store.force(key, CONFIG, State.FORCED_OPEN, "ops@example.com", "deploy", now)
    )
    await rec.keep(
        await store.force(key, CONFIG, State.FORCED_CLOSED, "ops@example.com", "trust it", now)
    )


def test_every_transition_is_recorded_with_its_numbers_under_the_tenant(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., BreakerKey]
) -> None:
    key = make_agent()

    async def body(db: Database, store: RedisBreakerStore) -> list[Transition]:
        rec = Recorder(db, store, key)
        await every_cause(rec)
        return rec.transitions

    transitions = run(migrated_database.app_url, redis_url, body)
    causes = {t.cause for t in transitions}
    assert causes == set(Cause), f"not exercised: {set(Cause) - causes}"

    with psycopg.connect(migrated_database.owner_url, row_factory=dict_row) as conn:
        events = conn.execute(
            "select * from circuit_breaker_events where agent_id = %s order by version",
            (key.agent_id,),
        ).fetchall()
        state = conn.execute(
            "select * from circuit_breaker_states where agent_id = %s", (key.agent_id,)
        ).fetchone()
    assert [e["version"] for e in events] == list(range(1, len(transitions) + 1))
    assert [(e["from_state"], e["to_state"], e["cause"]) for e in events] == [
        (t.from_state.value, t.to_state.value, t.cause.value) for t in transitions
    ]
    opened = next(e for e in events if e["cause"] == "slow_call_rate")
    assert opened["actor"] == "realtime"
    assert opened["metrics"]["slow_calls"] == 3
    assert opened["metrics"]["slow_call_rate"] == 1.0
    assert "slow-call-rate threshold 0.75" in opened["reason"]
    assert state is not None
    assert (state["state"], state["version"], state["forced_by"], state["forced_reason"]) == (
        "forced_closed",
        len(transitions),
        "ops@example.com",
        "trust it",
    )


def test_writing_the_same_transitions_again_or_late_changes_nothing(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., BreakerKey]
) -> None:
    key = make_agent()

    async def body(db: Database, store: RedisBreakerStore) -> tuple[int, int, int]:
        rec = Recorder(db, store, key)
        await rec.fail(2, T0)
        await rec.acquire(T0 + 10_000)
        first, second = rec.transitions
        again = await persist_transitions(db, key, rec.transitions)
        late = await persist_transitions(db, key, [first])  # an older version, after the newer
        return again, late, second.version

    again, late, newest = run(migrated_database.app_url, redis_url, body)
    assert (again, late) == (0, 0)
    with psycopg.connect(migrated_database.owner_url) as conn:
        row = conn.execute(
            "select state, version, (select count(*) from circuit_breaker_events e"
            "  where e.agent_id = s.agent_id)"
            " from circuit_breaker_states s where agent_id = %s",
            (key.agent_id,),
        ).fetchone()
    assert row == ("half_open", newest, 2)


def test_many_breakers_of_several_tenants_are_recorded_in_one_call(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., BreakerKey]
) -> None:
    keys = [make_agent() for _ in range(6)]

    async def body(db: Database, store: RedisBreakerStore) -> tuple[int, int, list[Any]]:
        changed = []
        for key in keys:  # opened by two failures, then half open: two transitions each
            moved: tuple[Transition, ...] = ()
            for _ in range(2):
                moved += await store.on_result(key, CONFIG, None, Outcome.FAILURE, 10, T0)
            moved += (await store.try_acquire(key, CONFIG, T0 + 10_000)).transitions
            changed.append((key, moved))
        written = await persist_many(db, changed)
        again = await persist_many(db, changed)
        return written, again, changed

    written, again, changed = run(migrated_database.app_url, redis_url, body)
    assert len({k.tenant_id for k in keys}) > 1
    assert (written, again) == (2 * len(keys), 0)
    with psycopg.connect(migrated_database.owner_url) as conn:
        for key, transitions in changed:
            events = conn.execute(
                "select from_state, to_state, version from circuit_breaker_events"
                " where tenant_id = %s and agent_id = %s order by version",
                (key.tenant_id, key.agent_id),
            ).fetchall()
            assert events == [(t.from_state, t.to_state, t.version) for t in transitions]
            state = conn.execute(
                "select state, version from circuit_breaker_states where agent_id = %s",
                (key.agent_id,),
            ).fetchone()
            assert state == ("half_open", transitions[-1].version)


def test_a_tenant_sees_only_its_own_breakers(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., BreakerKey]
) -> None:
    mine, theirs = make_agent(), make_agent()

    async def body(db: Database, store: RedisBreakerStore) -> list[int]:
        for key in (mine, theirs):
            await Recorder(db, store, key).fail(2, T0)
        counts = []
        async with db.tenant_transaction(mine.tenant_id) as conn:
            for table in ("circuit_breaker_states", "circuit_breaker_events"):
                cursor = await conn.execute(
                    f"select count(*) as n from {table} where agent_id = %s", (theirs.agent_id,)
                )
                row = await cursor.fetchone()
                assert row is not None
                counts.append(row["n"])
        assert {mine.tenant_id, theirs.tenant_id} <= set(await breaker_tenants(db))
        return counts

    assert run(migrated_database.app_url, redis_url, body) == [0, 0]


def test_after_a_redis_loss_every_breaker_is_restored_from_postgres(
    migrated_database: Any, lost_redis: str, make_agent: Callable[..., BreakerKey]
) -> None:
    opened, probing, forced = make_agent(), make_agent(), make_agent()
    other_tenant = make_agent()
    closed_again = make_agent(opened.tenant_id)

    async def body(db: Database, store: RedisBreakerStore) -> None:
        rec = {
            k: Recorder(db, store, k) for k in (opened, probing, forced, other_tenant, closed_again)
        }
        for key in (opened, probing, other_tenant, closed_again):
            await rec[key].fail(2, T0)
        hung = await rec[probing].acquire(T0 + 10_000)
        assert isinstance(hung, Permit)
        assert hung.deadline_ms is not None
        await rec[probing].acquire(T0 + 10_000)  # a second probe, after the last persisted row
        await rec[forced].keep(
            await store.force(forced, CONFIG, State.FORCED_OPEN, "ops@example.com", "incident", T0)
        )
        for _ in range(2):
            probe = await rec[closed_again].acquire(T0 + 10_000)
            await rec[closed_again].report(probe, Outcome.SUCCESS, 10, T0 + 10_000)
        assert (await store.load(closed_again)).state is State.CLOSED

        assert await store.needs_restore()  # nothing restored yet
        await store.mark_restored(T0)
        assert not await store.needs_restore()
        await store.client.flushall()
        assert await store.needs_restore()
        assert (await store.load(opened)).state is State.CLOSED  # what a lost Redis says

        installed = await restore_from_postgres(db, store, now_ms=T0 + 10_001)
        assert installed >= 5
        assert not await store.needs_restore()
        assert await restore_from_postgres(db, store, now_ms=T0 + 10_001) == 0  # idempotent

        # the open breaker still refuses until its open period ends
        refusal = (await store.try_acquire(opened, CONFIG, T0 + 4_000)).decision
        assert refusal == Rejected(State.OPEN, 6_000)
        assert (await store.try_acquire(other_tenant, CONFIG, T0 + 4_000)).decision == refusal
        # the forced breaker stays forced, by the same operator
        assert (await store.load(forced)).forced_by == "ops@example.com"
        assert isinstance((await store.try_acquire(forced, CONFIG, T0)).decision, Rejected)
        # the half-open breaker awaits its persisted probe and admits what remains
        restored = await store.load(probing)
        assert (restored.state, restored.probe_deadlines) == (
            State.HALF_OPEN,
            ((0, hung.deadline_ms),),
        )
        assert isinstance((await store.try_acquire(probing, CONFIG, T0 + 10_001)).decision, Permit)
        # the hung probe still cannot wedge it, and the next transition continues the record
        (expired,) = await rec[probing].keep(await store.advance(probing, CONFIG, hung.deadline_ms))
        assert expired.cause is Cause.PROBE_DEADLINE
        assert (await store.load(closed_again)).state is State.CLOSED

    run(migrated_database.app_url, lost_redis, body)
    with psycopg.connect(migrated_database.owner_url) as conn:
        versions = conn.execute(
            "select array_agg(version order by version) from circuit_breaker_events"
            " where agent_id = %s",
            (probing.agent_id,),
        ).fetchone()
    assert versions == ([1, 2, 3],)


def test_an_agents_config_is_read_from_its_row_or_defaults(
    migrated_database: Any,
    redis_url: str,
    owner_conn: psycopg.Connection,
    make_agent: Callable[..., BreakerKey],
) -> None:
    configured, unconfigured = make_agent(), make_agent()
    owner_conn.execute(
        "insert into circuit_breaker_configs (tenant_id, agent_id, window_kind, window_size,"
        " consecutive_failures_threshold) values (%s, %s, 'time', 60, 5)",
        (configured.tenant_id, configured.agent_id),
    )

    async def body(db: Database, store: RedisBreakerStore) -> list[BreakerConfig]:
        return [await load_config(db, k) for k in (configured, unconfigured)]

    first, second = run(migrated_database.app_url, redis_url, body)
    assert (first.window_kind, first.window_size, first.consecutive_failures_threshold) == (
        WindowKind.TIME,
        60,
        5,
    )
    assert second == BreakerConfig()
    assert uuid.UUID(str(configured.agent_id))


def test_a_half_open_row_without_its_event_is_restored_from_its_columns() -> None:
    """A row written by something else (a seed, an older version): the probe it shows out is
    awaited, the permits it shows left are handed out, and nothing more."""
    at = to_datetime(T0)
    row = {
        "state": "half_open",
        "version": 4,
        "state_changed_at": at,
        "opened_at": to_datetime(T0 - 10_000),
        "open_until": at,
        "consecutive_opens": 1,
        "half_open_permits_remaining": 2,
        "half_open_deadline_at": to_datetime(T0 + 5_000),
        "forced_by": None,
        "forced_reason": None,
        "half_open": None,
    }
    state = state_from_row(row, probe_limit=3)
    assert (state.probe_limit, state.probes_issued, state.probes_succeeded) == (3, 1, 0)
    assert state.probe_deadlines == ((0, T0 + 5_000),)
    _, acquired = core.try_acquire(CONFIG, state, T0 + 1)
    assert acquired.decision == Permit(
        PermitKind.PROBE, 4, 1, T0 + 1 + CONFIG.half_open_deadline_ms
    )
