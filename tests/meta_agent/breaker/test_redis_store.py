"""The Redis store under concurrency and loss: exact half-open permits among 200 callers, hung
probes released at their deadline, scripts reloaded after SCRIPT FLUSH, keys per breaker."""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

import pytest

from meta_agent.breaker import (
    BreakerConfig,
    BreakerKey,
    BreakerState,
    CallResult,
    Cause,
    Outcome,
    Permit,
    PermitKind,
    RedisBreakerStore,
    Rejected,
    State,
    WindowKind,
    core,
)
from tests.meta_agent.breaker.support import new_key, redis_store

T = TypeVar("T")
T0 = 1_767_225_600_000
CONFIG = BreakerConfig(
    window_size=10,
    min_calls=2,
    open_duration_ms=10_000,
    half_open_permitted_probes=3,
    half_open_deadline_ms=5_000,
)


def run(url: str, body: Callable[[RedisBreakerStore], Coroutine[Any, Any, T]]) -> T:
    async def main() -> T:
        async with redis_store(url) as store:
            return await body(store)

    return asyncio.run(main())


async def open_it(store: RedisBreakerStore, key: BreakerKey, now: int = T0) -> None:
    for _ in range(2):
        await store.on_result(key, CONFIG, None, Outcome.FAILURE, 10, now)
    assert (await store.load(key)).state is State.OPEN


def test_200_concurrent_callers_at_the_end_of_the_open_period_get_exactly_n_probes(
    redis_url: str,
) -> None:
    """4 threads × 50 tasks, each task on its own connection, released together: the open →
    half-open race admits exactly `half_open_permitted_probes` callers."""
    key = new_key()
    run(redis_url, lambda store: open_it(store, key))
    start = threading.Barrier(4)
    decisions: list[Any] = []
    transitions: list[Any] = []
    lock = threading.Lock()

    def caller_thread(thread: int) -> None:
        async def main() -> None:
            async with redis_store(redis_url, max_connections=50) as store:
                await store.client.ping()
                start.wait()
                # some arrive a little early: they are refused, the rest race for the slots
                results = await asyncio.gather(
                    *(
                        store.try_acquire(key, CONFIG, T0 + 10_000 - 3 + (thread + i) % 6)
                        for i in range(50)
                    )
                )
            with lock:
                for result in results:
                    decisions.append(result.decision)
                    transitions.extend(result.transitions)

        asyncio.run(main())

    threads = [threading.Thread(target=caller_thread, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    permits = [d for d in decisions if isinstance(d, Permit)]
    assert len(decisions) == 200
    assert len(permits) == CONFIG.half_open_permitted_probes
    assert sorted(p.slot for p in permits if p.slot is not None) == [0, 1, 2]
    assert {p.kind for p in permits} == {PermitKind.PROBE}
    assert [t.cause for t in transitions] == [Cause.OPEN_ELAPSED]
    refused = {d.state for d in decisions if isinstance(d, Rejected)}
    assert refused <= {State.OPEN, State.HALF_OPEN}


def test_a_probe_that_never_returns_is_released_at_its_deadline(redis_url: str) -> None:
    key = new_key()

    async def body(store: RedisBreakerStore) -> None:
        await open_it(store, key)
        probes = [(await store.try_acquire(key, CONFIG, T0 + 10_000)).decision for _ in range(3)]
        for probe in probes[1:]:
            assert isinstance(probe, Permit)
            await store.on_result(key, CONFIG, probe, Outcome.SUCCESS, 5, T0 + 10_001)
        # the first probe hangs; nothing happens until its deadline, by the clock we pass in
        waiting = await store.try_acquire(key, CONFIG, T0 + 14_999)
        assert waiting.decision == Rejected(State.HALF_OPEN, 1)
        assert await store.advance(key, CONFIG, T0 + 14_999) == ()
        (released,) = await store.advance(key, CONFIG, T0 + 15_000)
        assert (released.from_state, released.to_state, released.cause) == (
            State.HALF_OPEN,
            State.OPEN,
            Cause.PROBE_DEADLINE,
        )
        assert released.probes_succeeded == 2
        # not wedged: after the (doubled) open period, new probes are admitted
        later = await store.try_acquire(key, CONFIG, T0 + 15_000 + 20_000)
        assert isinstance(later.decision, Permit)
        assert later.decision.kind is PermitKind.PROBE

    run(redis_url, body)


def test_the_script_is_loaded_again_after_a_script_flush(redis_url: str) -> None:
    key = new_key()

    async def body(store: RedisBreakerStore) -> Any:
        await store.try_acquire(key, CONFIG, T0)
        await store.client.script_flush()
        return (await store.try_acquire(key, CONFIG, T0)).decision

    assert run(redis_url, body) == Permit(PermitKind.CALL, 0)


def test_each_agent_of_each_tenant_has_a_breaker_of_its_own(redis_url: str) -> None:
    tenant, agent = uuid.uuid4(), uuid.uuid4()
    failing = BreakerKey(tenant, agent)
    same_agent_other_tenant = BreakerKey(uuid.uuid4(), agent)
    other_agent_same_tenant = BreakerKey(tenant, uuid.uuid4())

    async def body(store: RedisBreakerStore) -> list[State]:
        await open_it(store, failing)
        assert all(str(part) in store.keys(failing)[0] for part in (tenant, agent))
        return [
            (await store.load(k)).state
            for k in (failing, same_agent_other_tenant, other_agent_same_tenant)
        ]

    assert run(redis_url, body) == [State.OPEN, State.CLOSED, State.CLOSED]


@pytest.mark.parametrize(
    ("kind", "size", "step_ms", "fields_at_most"),
    [(WindowKind.COUNT, 100, 1, 5), (WindowKind.TIME, 30, 700, 4 * 30 + 4)],
)
def test_a_window_holds_at_most_its_size(
    redis_url: str, kind: WindowKind, size: int, step_ms: int, fields_at_most: int
) -> None:
    config = BreakerConfig(window_kind=kind, window_size=size, min_calls=1)
    key = new_key()

    async def body(store: RedisBreakerStore) -> tuple[int, int]:
        for i in range(1_000):
            await store.on_result(key, config, None, Outcome.SUCCESS, 1, T0 + i * step_ms)
        state_key, window_key = store.keys(key)
        return await store.client.hlen(window_key), await store.client.hlen(state_key)

    window_fields, state_fields = run(redis_url, body)
    assert window_fields <= fields_at_most
    assert state_fields <= 16


def test_a_count_window_kept_a_field_per_slot_goes_on_as_the_ring(redis_url: str) -> None:
    """A count window stored by an earlier version (`o<slot>` fields, no ring) is read into
    the ring at its next call: it then holds what a breaker that always had the ring holds."""
    config = BreakerConfig(window_size=20, min_calls=20, failure_rate_threshold=0.9)
    earlier, always = new_key(), new_key()
    outcomes = [Outcome.FAILURE if i % 3 == 0 else Outcome.SUCCESS for i in range(35)]

    async def body(store: RedisBreakerStore) -> tuple[BreakerState, BreakerState, list[str]]:
        for i, outcome in enumerate(outcomes[:25]):
            for key in (earlier, always):
                await store.on_result(key, config, None, outcome, 10 + i * 400, T0 + i)
        _, window_key = store.keys(earlier)
        ring = (await store.client.hget(window_key, "r")).decode()
        await store.client.hdel(window_key, "r")
        await store.client.hset(window_key, mapping={f"o{i}": c for i, c in enumerate(ring)})
        for i, outcome in enumerate(outcomes[25:], start=25):
            for key in (earlier, always):
                await store.on_result(key, config, None, outcome, 10 + i * 400, T0 + i)
        fields = sorted(k.decode() for k in await store.client.hkeys(window_key))
        return await store.load(earlier), await store.load(always), fields

    converted, expected, fields = run(redis_url, body)
    assert converted == expected
    assert len(converted.window.outcomes) == 20
    assert fields == ["c", "f", "n", "r", "sl"]


def test_restore_installs_a_state_only_over_an_older_one(redis_url: str) -> None:
    key = new_key()
    restored = BreakerState(
        state=State.HALF_OPEN,
        version=7,
        changed_ms=T0,
        clock_ms=T0,
        opened_ms=T0 - 10_000,
        open_until_ms=T0,
        consecutive_opens=2,
        probe_limit=3,
        probes_issued=1,
        probe_deadlines=((0, T0 + 5_000),),
    )

    async def body(store: RedisBreakerStore) -> None:
        assert await store.restore(key, restored)
        assert await store.load(key) == restored
        assert not await store.restore(key, replace(restored, state=State.CLOSED))
        assert await store.restore(key, replace(restored, version=8, state=State.CLOSED))
        assert (await store.load(key)).state is State.CLOSED

    run(redis_url, body)


def test_bad_times_and_durations_are_refused_before_reaching_redis(redis_url: str) -> None:
    key = new_key()

    async def body(store: RedisBreakerStore) -> None:
        with pytest.raises(ValueError, match="now_ms"):
            await store.try_acquire(key, CONFIG, -1)
        with pytest.raises(ValueError, match="duration_ms"):
            await store.on_result(key, CONFIG, None, Outcome.SUCCESS, -5, T0)
        with pytest.raises(ValueError, match="reason"):
            await store.force(key, CONFIG, State.FORCED_OPEN, "ops", "", T0)
        assert await store.client.exists(*store.keys(key)) == 0

    run(redis_url, body)


def one_by_one(
    batch: list[CallResult],
) -> tuple[list[tuple[Any, ...]], dict[BreakerKey, BreakerState]]:
    """What the core gives for each result applied alone, in order, and each breaker's state."""
    states: dict[BreakerKey, BreakerState] = {}
    expected: list[tuple[Any, ...]] = []
    for r in batch:
        states[r.key], done = core.on_result(
            r.config, states.get(r.key, BreakerState()), None, r.outcome, r.duration_ms, r.now_ms
        )
        expected.append(done)
    return expected, states


def test_a_batch_of_results_is_applied_in_order_as_one_by_one(redis_url: str) -> None:
    """Pipelined results (the worker's path) give what the core gives one at a time."""
    rng = random.Random(7)
    keys = [new_key() for _ in range(3)]
    config = replace(CONFIG, consecutive_failures_threshold=4)
    batch = [
        CallResult(
            keys[rng.randrange(3)],
            config,
            rng.choice([Outcome.SUCCESS, Outcome.FAILURE, Outcome.SUCCESS]),
            rng.randrange(0, 2 * config.slow_call_duration_ms),
            T0 + i * 500,
        )
        for i in range(300)
    ]
    expected, expected_states = one_by_one(batch)

    async def body(store: RedisBreakerStore) -> tuple[Any, list[BreakerState]]:
        got = await store.on_results(batch[:150])
        await store.client.script_flush()  # the pipeline loads the script again
        got += await store.on_results(batch[150:])
        return got, [await store.load(k) for k in keys]

    got, states = run(redis_url, body)
    assert got == expected
    assert sum(len(t) for t in got) == len(keys)  # every breaker opened on the way
    assert states == [expected_states.get(k, BreakerState()) for k in keys]


@pytest.mark.parametrize("kind", ["count", "time"])
def test_results_of_one_moment_without_permits_are_applied_as_one_by_one(
    redis_url: str, kind: str
) -> None:
    """The worker's batch (one `now`, no permits) goes in the short `outcomes` form, and gives
    what the core gives one result at a time."""
    rng = random.Random(11)
    keys = [new_key() for _ in range(4)]
    config = replace(CONFIG, window_kind=kind, window_size=30, min_calls=20)
    batch = [
        CallResult(
            keys[rng.randrange(4)],
            config,
            rng.choice([Outcome.SUCCESS, Outcome.FAILURE]),
            rng.randrange(0, 2 * config.slow_call_duration_ms),
            T0,
        )
        for i in range(600)
    ]
    expected, expected_states = one_by_one(batch)

    async def body(store: RedisBreakerStore) -> tuple[Any, list[BreakerState]]:
        got = await store.on_results(batch)
        return got, [await store.load(k) for k in keys]

    got, states = run(redis_url, body)
    assert got == expected
    assert sum(len(t) for t in got) >= 1  # the failure rate opened breakers on the way
    assert states == [expected_states.get(k, BreakerState()) for k in keys]


def test_a_batch_with_one_breaker_under_two_configs_keeps_their_order(redis_url: str) -> None:
    key = new_key()
    strict = replace(CONFIG, consecutive_failures_threshold=2)
    batch = [
        CallResult(key, CONFIG, Outcome.SUCCESS, 10, T0),
        CallResult(key, CONFIG, Outcome.SUCCESS, 10, T0),
        CallResult(key, strict, Outcome.FAILURE, 10, T0),
        CallResult(key, CONFIG, Outcome.SUCCESS, 10, T0),
        CallResult(key, strict, Outcome.FAILURE, 10, T0),
        CallResult(key, strict, Outcome.FAILURE, 10, T0),
    ]
    state, expected = BreakerState(), []
    for r in batch:
        state, done = core.on_result(r.config, state, None, r.outcome, r.duration_ms, r.now_ms)
        expected.append(done)
    got = run(redis_url, lambda store: store.on_results(batch))
    assert got == expected
    assert [len(t) for t in got] == [0, 0, 0, 0, 0, 1]
