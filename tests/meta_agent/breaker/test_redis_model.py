"""The Redis Lua implementation against the pure core, step by step: the same decisions, the
same transitions, and after every step the state read back from Redis equals the core's."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from meta_agent.breaker import (
    Acquisition,
    BreakerConfig,
    BreakerState,
    Outcome,
    Permit,
    RedisBreakerStore,
    State,
    Transition,
    WindowKind,
)
from tests.meta_agent.breaker.machine import START_MS, BreakerComparison, Driver, PureDriver
from tests.meta_agent.breaker.support import new_key

T = TypeVar("T")


class RedisDriver:
    """One breaker in Redis, driven synchronously through an event loop of its own."""

    def __init__(self, url: str, config: BreakerConfig) -> None:
        import redis.asyncio as aioredis

        self.config = config
        self.key = new_key()
        self.loop = asyncio.new_event_loop()
        self.client = aioredis.Redis.from_url(url)
        self.store = RedisBreakerStore(self.client)

    def run(self, operation: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(operation)

    def close(self) -> None:
        self.run(self.client.aclose())
        self.loop.close()

    def load(self) -> BreakerState:
        return self.run(self.store.load(self.key))

    def acquire(self, now: int) -> Acquisition:
        return self.run(self.store.try_acquire(self.key, self.config, now))

    def result(
        self, permit: Permit | None, outcome: Outcome, duration_ms: int, now: int
    ) -> tuple[Transition, ...]:
        return self.run(
            self.store.on_result(self.key, self.config, permit, outcome, duration_ms, now)
        )

    def advance(self, now: int) -> tuple[Transition, ...]:
        return self.run(self.store.advance(self.key, self.config, now))

    def force(self, target: State, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        return self.run(self.store.force(self.key, self.config, target, actor, reason, now))

    def reset(self, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        return self.run(self.store.reset(self.key, self.config, actor, reason, now))

    def reconfigure(self, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        return self.run(self.store.reconfigure(self.key, self.config, actor, reason, now))


class RedisAgainstPure(BreakerComparison):
    url = ""
    subject: RedisDriver
    reference: PureDriver

    def config_strategy_exact(self) -> bool:
        return False  # any floats: Lua must compute the same doubles as Python

    def drivers(self, config: BreakerConfig) -> tuple[Driver, Driver]:
        return RedisDriver(self.url, config), PureDriver(config)

    def same_state(self) -> None:
        self.same(self.subject.load(), self.reference.state)

    def teardown(self) -> None:
        if hasattr(self, "subject"):
            self.subject.close()


def test_redis_agrees_with_the_core_step_by_step(redis_url: str) -> None:
    machine = type("RedisMachine", (RedisAgainstPure,), {"url": redis_url})
    run_state_machine_as_test(
        machine, settings=settings(max_examples=200, stateful_step_count=50, deadline=None)
    )


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(WindowKind),
    size=st.integers(1, 6),
    calls=st.lists(
        st.tuples(st.integers(0, 2_500), st.sampled_from(Outcome), st.integers(0, 20)),
        max_size=60,
    ),
)
def test_windows_slide_the_same_in_redis_and_in_the_core(
    redis_url: str, kind: WindowKind, size: int, calls: list[tuple[int, Outcome, int]]
) -> None:
    """Thresholds no window reaches: only the sliding is compared, call by call."""
    config = BreakerConfig(
        window_kind=kind,
        window_size=size,
        min_calls=size if kind is WindowKind.COUNT else 1_000,
        failure_rate_threshold=1.0,
        slow_call_duration_ms=10,
        slow_call_rate_threshold=1.0,
    )
    redis = RedisDriver(redis_url, config)
    pure = PureDriver(config)
    now = START_MS
    try:
        for step, (elapsed, outcome, duration) in enumerate(calls):
            now += elapsed
            # failures only where the count window cannot fill with them
            if kind is WindowKind.COUNT and outcome is Outcome.FAILURE and step % 2:
                outcome = Outcome.SUCCESS
            assert redis.result(None, outcome, duration, now) == pure.result(
                None, outcome, duration, now
            )
            assert redis.load() == pure.state
    finally:
        redis.close()
