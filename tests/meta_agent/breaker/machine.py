"""A hypothesis state machine that drives two breakers through the same steps and requires
them to agree on every decision, every transition and the state after each step.

The steps are any interleaving of: time passing (by little or a lot), callers whose clock
lags, acquiring permits, reporting results with them (successes, failures, slow calls), late
duplicate reports, results without a permit (as the ingest stream has them), bursts, the
deadline check, forcing, resetting, and changing the config with or without telling.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from meta_agent.breaker import (
    Acquisition,
    BreakerConfig,
    BreakerState,
    Outcome,
    Permit,
    State,
    Transition,
    WindowKind,
    core,
)
from meta_agent.breaker.state import AUTOMATIC_ACTOR

START_MS = 1_767_225_600_000  # 2026-01-01
ACTOR = "ops@example.com"
OUTCOMES = st.sampled_from([Outcome.SUCCESS, Outcome.FAILURE])
DURATIONS = st.integers(0, 40) | st.integers(0, 600)
LAGS = st.sampled_from([0, 0, 0, 0, 700, 5_000])


@st.composite
def configs(draw: Any, exact: bool = True) -> BreakerConfig:
    """Small configs, so that windows fill and breakers open within a few dozen steps.

    `exact`: thresholds with two decimals and backoff multipliers whose products stay exact in
    binary, for comparing with the reference's exact fractions; otherwise any floats (Python
    and Lua must then still agree to the last bit)."""
    kind = draw(st.sampled_from(WindowKind))
    size = draw(st.integers(1, 8) if kind is WindowKind.COUNT else st.integers(1, 6))
    if exact:
        rates = st.integers(1, 100).map(lambda n: n / 100)
        multipliers = st.sampled_from([1.0, 1.5, 2.0, 3.0])
    else:
        rates = st.floats(min_value=0.001, max_value=1.0)
        multipliers = st.floats(min_value=1.0, max_value=4.0)
    # often a threshold only a window full of failures reaches, so windows fill and slide
    rates = st.just(1.0) | rates
    open_ms = draw(st.integers(1, 3_000))
    return BreakerConfig(
        enabled=draw(st.sampled_from([True, True, True, False])),
        window_kind=kind,
        window_size=size,
        min_calls=draw(st.integers(1, size if kind is WindowKind.COUNT else 10)),
        failure_rate_threshold=draw(rates),
        slow_call_duration_ms=draw(st.integers(1, 500)),
        slow_call_rate_threshold=draw(rates),
        consecutive_failures_threshold=draw(st.none() | st.integers(1, 5)),
        open_duration_ms=open_ms,
        backoff_multiplier=draw(multipliers),
        max_open_duration_ms=draw(st.integers(open_ms, 100_000)),
        half_open_permitted_probes=draw(st.integers(1, 4)),
        half_open_deadline_ms=draw(st.integers(1, 3_000)),
    )


class Driver(Protocol):
    """One breaker under test, operated synchronously."""

    config: BreakerConfig

    def acquire(self, now: int) -> Acquisition: ...
    def result(
        self, permit: Permit | None, outcome: Outcome, duration_ms: int, now: int
    ) -> tuple[Transition, ...]: ...
    def advance(self, now: int) -> tuple[Transition, ...]: ...
    def force(self, target: State, actor: str, reason: str, now: int) -> tuple[Transition, ...]: ...
    def reset(self, actor: str, reason: str, now: int) -> tuple[Transition, ...]: ...
    def reconfigure(self, actor: str, reason: str, now: int) -> tuple[Transition, ...]: ...


class PureDriver:
    """The pure core, holding its state between steps."""

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.state = BreakerState()

    def acquire(self, now: int) -> Acquisition:
        self.state, acquisition = core.try_acquire(self.config, self.state, now)
        return acquisition

    def result(
        self, permit: Permit | None, outcome: Outcome, duration_ms: int, now: int
    ) -> tuple[Transition, ...]:
        self.state, done = core.on_result(
            self.config, self.state, permit, outcome, duration_ms, now
        )
        return done

    def advance(self, now: int) -> tuple[Transition, ...]:
        self.state, done = core.advance(self.config, self.state, now)
        return done

    def force(self, target: State, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        self.state, done = core.force(self.config, self.state, target, actor, reason, now)
        return done

    def reset(self, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        self.state, done = core.reset(self.config, self.state, actor, reason, now)
        return done

    def reconfigure(self, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        self.state, done = core.reconfigure(self.config, self.state, actor, reason, now)
        return done


class BreakerComparison(RuleBasedStateMachine):
    """Subclasses say which two breakers to compare and how to compare their states."""

    def __init__(self) -> None:
        super().__init__()
        self.now = START_MS
        self.permits: list[Permit] = []
        self.returned: list[Permit] = []
        self.retry_after: int | None = None
        self.steps = 0

    def drivers(self, config: BreakerConfig) -> tuple[Driver, Driver]:
        raise NotImplementedError

    def same_state(self) -> None:
        raise NotImplementedError

    def config_strategy_exact(self) -> bool:
        return True

    def same(self, got: Any, expected: Any) -> None:
        assert got == expected, f"step {self.steps}: {got!r} != {expected!r}"

    def both(self, call: Any) -> None:
        self.steps += 1
        got, expected = call(self.subject), call(self.reference)
        self.same(self.comparable(got), self.comparable(expected))

    def comparable(self, transitions: tuple[Transition, ...]) -> tuple[Transition, ...]:
        return transitions

    @initialize(config=st.data())
    def start(self, config: Any) -> None:
        chosen = config.draw(configs(exact=self.config_strategy_exact()))
        self.subject, self.reference = self.drivers(chosen)

    @rule(ms=st.integers(0, 2_500) | st.sampled_from([1_000, 10_000, 300_000, 10_000_000]))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @rule(lag=LAGS)
    def acquire(self, lag: int) -> None:
        self.steps += 1
        got = self.subject.acquire(self.now - lag)
        expected = self.reference.acquire(self.now - lag)
        self.same(got.decision, expected.decision)
        self.same(self.comparable(got.transitions), self.comparable(expected.transitions))
        if isinstance(got.decision, Permit):
            self.permits.append(got.decision)
        self.retry_after = getattr(got.decision, "retry_after_ms", None)

    @precondition(lambda self: self.retry_after is not None)
    @rule(offset=st.sampled_from([-1, 0, 0, 1]), lag=LAGS)
    def retry_when_told(self, offset: int, lag: int) -> None:
        """A rejected caller comes back when it was told to (or a millisecond either side)."""
        assert self.retry_after is not None
        self.now += max(0, self.retry_after + offset)
        self.acquire(lag)

    @precondition(lambda self: any(p.deadline_ms is not None for p in self.permits))
    @rule(offset=st.sampled_from([-1, 0, 1]))
    def until_a_probe_deadline(self, offset: int) -> None:
        """Time reaches the newest probe's deadline (or a millisecond either side), and the
        deadline is checked."""
        deadline = max(p.deadline_ms for p in self.permits if p.deadline_ms is not None)
        self.now = max(self.now, deadline + offset)
        self.both(lambda b: b.advance(self.now))

    @precondition(lambda self: self.permits)
    @rule(outcome=OUTCOMES, duration=DURATIONS, duplicate=st.none() | OUTCOMES)
    def report_latest(self, outcome: Outcome, duration: int, duplicate: Outcome | None) -> None:
        """The caller that acquired last reports (and maybe, by a retry, reports again)."""
        permit = self.permits.pop()
        self.both(lambda b: b.result(permit, outcome, duration, self.now))
        if duplicate is not None:
            self.both(lambda b: b.result(permit, duplicate, duration, self.now))
        self.returned.append(permit)

    @precondition(lambda self: self.permits)
    @rule(pick=st.integers(0, 99), outcome=OUTCOMES, duration=DURATIONS, lag=LAGS)
    def report(self, pick: int, outcome: Outcome, duration: int, lag: int) -> None:
        permit = self.permits.pop(pick % len(self.permits))
        self.both(lambda b: b.result(permit, outcome, duration, self.now - lag))
        self.returned.append(permit)

    @precondition(lambda self: self.returned)
    @rule(pick=st.integers(0, 99), outcome=OUTCOMES, duration=DURATIONS)
    def report_twice(self, pick: int, outcome: Outcome, duration: int) -> None:
        # mostly one of the last few: a duplicate of a probe lands in the same half-open round
        recent = self.returned[-3:] if pick % 4 else self.returned
        permit = recent[pick % len(recent)]
        self.both(lambda b: b.result(permit, outcome, duration, self.now))

    @rule(outcome=OUTCOMES, duration=DURATIONS, lag=LAGS)
    def observe(self, outcome: Outcome, duration: int, lag: int) -> None:
        self.both(lambda b: b.result(None, outcome, duration, self.now - lag))

    @rule(outcomes=st.lists(OUTCOMES, min_size=1, max_size=12), duration=DURATIONS)
    def burst(self, outcomes: list[Outcome], duration: int) -> None:
        for outcome in outcomes:
            self.both(lambda b, o=outcome: b.result(None, o, duration, self.now))

    @rule()
    def tick(self) -> None:
        self.both(lambda b: b.advance(self.now))

    # Operators and config changes act in one step of four the rule is drawn for: more often,
    # and a run spends its steps held in a forced state instead of exploring the automatic ones.
    @rule(
        action=st.sampled_from([None] * 9 + [State.FORCED_OPEN, State.FORCED_CLOSED, State.CLOSED])
    )
    def operator(self, action: State | None) -> None:
        if action is None:
            return
        if action is State.CLOSED:
            self.both(lambda b: b.reset(ACTOR, "back to normal", self.now))
        else:
            self.both(lambda b: b.force(action, ACTOR, "maintenance", self.now))

    @rule(config=st.data(), announced=st.sampled_from([None, None, None, True, False]))
    def change_config(self, config: Any, announced: bool | None) -> None:
        if announced is None:
            return
        chosen = config.draw(configs(exact=self.config_strategy_exact()))
        self.subject.config = self.reference.config = chosen
        if announced:
            self.both(lambda b: b.reconfigure(ACTOR, "", self.now))

    @invariant()
    def agree(self) -> None:
        if hasattr(self, "subject"):
            self.same_state()


def without_generated_reasons(transitions: tuple[Transition, ...]) -> tuple[Transition, ...]:
    """The reference leaves the reason of automatic transitions (a sentence) empty."""
    return tuple(replace(t, reason="") if t.actor == AUTOMATIC_ACTOR else t for t in transitions)
