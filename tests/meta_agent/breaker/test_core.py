"""The breaker's rules, one by one, on the pure core with a fake clock (plain integers)."""

from __future__ import annotations

import pytest

from meta_agent.breaker import (
    BreakerConfig,
    Cause,
    Outcome,
    Permit,
    PermitKind,
    Rejected,
    State,
    WindowKind,
)
from tests.meta_agent.breaker.machine import PureDriver

T0 = 1_767_225_600_000
OK, FAIL = Outcome.SUCCESS, Outcome.FAILURE


def breaker(**overrides: object) -> PureDriver:
    settings: dict[str, object] = {
        "window_size": 10,
        "min_calls": 4,
        "failure_rate_threshold": 0.5,
        "slow_call_duration_ms": 1_000,
        "open_duration_ms": 10_000,
        "half_open_permitted_probes": 2,
        "half_open_deadline_ms": 5_000,
    }
    settings.update(overrides)
    return PureDriver(BreakerConfig(**settings))  # type: ignore[arg-type]


def record(b: PureDriver, outcomes: str, now: int = T0, duration: int = 10) -> list[Cause]:
    """Feed results without permits ('s' success, 'f' failure); return the causes of opens."""
    causes = []
    for char in outcomes:
        for t in b.result(None, FAIL if char == "f" else OK, duration, now):
            causes.append(t.cause)
    return causes


def admitted(b: PureDriver, now: int) -> Permit:
    decision = b.acquire(now).decision
    assert isinstance(decision, Permit), decision
    return decision


def open_breaker(b: PureDriver, now: int = T0) -> None:
    record(b, "ffff", now)
    assert b.state.state is State.OPEN


# -- opening ----------------------------------------------------------------------------------


def test_opens_when_the_failure_rate_reaches_the_threshold() -> None:
    b = breaker()
    assert record(b, "ssssss" + "ffff") == []  # 4 failures in 10 calls
    assert record(b, "f") == [Cause.FAILURE_RATE]  # the window holds the last 10: 5 failures
    assert b.state.state is State.OPEN


def test_one_failure_among_few_calls_does_not_open() -> None:
    b = breaker(min_calls=4)
    assert record(b, "f") == []
    assert b.state.state is State.CLOSED


@pytest.mark.parametrize("kind", [WindowKind.COUNT, WindowKind.TIME])
def test_below_min_calls_the_failures_alone_must_reach_threshold_times_min_calls(
    kind: WindowKind,
) -> None:
    """Low traffic: a time window that never holds min_calls calls still opens, the same way
    a count window does, once threshold × min_calls failures are in it."""
    b = breaker(window_kind=kind, window_size=60, min_calls=10)
    now = T0
    for _ in range(4):
        assert record(b, "f", now) == []
        now += 10_000
    assert record(b, "f", now) == [Cause.FAILURE_RATE]  # 5 failures, 5 / max(5, 10) = 0.5


def test_a_time_window_forgets_calls_older_than_its_size() -> None:
    b = breaker(window_kind=WindowKind.TIME, window_size=60, min_calls=10)
    record(b, "fff", T0)
    assert record(b, "s", T0 + 60_000) == []  # the three failures are a minute old
    assert (b.state.window.calls, b.state.window.failures) == (1, 0)


def test_slow_calls_open_on_the_slow_call_rate() -> None:
    b = breaker(slow_call_rate_threshold=1.0)
    assert record(b, "sss", duration=1_000) == []
    assert record(b, "s", duration=1_000) == [Cause.SLOW_CALL_RATE]  # 4 slow of max(4, 4)


def test_consecutive_failures_open_regardless_of_the_rate() -> None:
    b = breaker(window_size=100, min_calls=100, consecutive_failures_threshold=3)
    assert record(b, "ff" + "s" + "ff") == []  # the success broke the run
    assert record(b, "f") == [Cause.CONSECUTIVE_FAILURES]


# -- open, half open, closed ------------------------------------------------------------------


def test_open_rejects_until_open_until_then_admits_exactly_the_permitted_probes() -> None:
    b = breaker(half_open_permitted_probes=2)
    open_breaker(b)
    assert b.acquire(T0 + 4_000).decision == Rejected(State.OPEN, 6_000)
    first = b.acquire(T0 + 10_000)
    assert first.decision == Permit(PermitKind.PROBE, 2, 0, T0 + 15_000)
    assert [t.cause for t in first.transitions] == [Cause.OPEN_ELAPSED]
    assert first.transitions[0].permits_remaining == 1
    second = b.acquire(T0 + 11_000).decision
    assert second == Permit(PermitKind.PROBE, 2, 1, T0 + 16_000)
    # every further caller waits for the first deadline
    assert b.acquire(T0 + 12_000).decision == Rejected(State.HALF_OPEN, 3_000)


def test_the_permitted_probes_succeeding_close_the_breaker_and_end_the_backoff() -> None:
    b = breaker()
    open_breaker(b)
    probes = [admitted(b, T0 + 10_000) for _ in range(2)]
    assert b.result(probes[0], OK, 10, T0 + 10_100) == ()
    (closed,) = b.result(probes[1], OK, 10, T0 + 10_200)
    assert (closed.to_state, closed.cause, closed.probes_succeeded) == (
        State.CLOSED,
        Cause.PROBE_SUCCEEDED,
        2,
    )
    assert b.state.consecutive_opens == 0
    open_breaker(b, T0 + 20_000)
    assert b.state.open_until_ms == T0 + 20_000 + 10_000  # the base duration again


def test_a_failed_probe_reopens_at_once_for_longer_each_time_up_to_the_cap() -> None:
    b = breaker(backoff_multiplier=2.0, max_open_duration_ms=30_000)
    open_breaker(b)
    now, durations = T0, []
    for _ in range(4):
        assert b.state.open_until_ms is not None
        now = b.state.open_until_ms
        (reopened,) = b.result(admitted(b, now), FAIL, 10, now)
        assert reopened.cause is Cause.PROBE_FAILED
        assert reopened.open_until_ms is not None
        assert reopened.opened_ms is not None
        durations.append(reopened.open_until_ms - reopened.opened_ms)
    assert durations == [20_000, 30_000, 30_000, 30_000]


def test_a_probe_that_never_reports_is_failed_at_its_deadline() -> None:
    b = breaker(half_open_permitted_probes=1)
    open_breaker(b)
    hung = b.acquire(T0 + 10_000).decision
    assert isinstance(hung, Permit)
    assert hung.deadline_ms is not None
    assert b.advance(hung.deadline_ms - 1) == ()
    (expired,) = b.advance(hung.deadline_ms)
    assert (expired.from_state, expired.to_state, expired.cause) == (
        State.HALF_OPEN,
        State.OPEN,
        Cause.PROBE_DEADLINE,
    )
    # its late success counts for nothing; the breaker is not wedged: it reopened and will probe
    assert b.result(hung, OK, 10, hung.deadline_ms + 1) == ()
    assert b.state.state is State.OPEN


def test_an_expired_probe_is_noticed_by_the_next_caller_too() -> None:
    b = breaker(half_open_permitted_probes=1)
    open_breaker(b)
    hung = b.acquire(T0 + 10_000).decision
    assert isinstance(hung, Permit)
    assert hung.deadline_ms is not None
    acquisition = b.acquire(hung.deadline_ms)
    assert [t.cause for t in acquisition.transitions] == [Cause.PROBE_DEADLINE]
    assert isinstance(acquisition.decision, Rejected)


def test_a_result_reported_twice_or_after_a_state_change_counts_once_or_not_at_all() -> None:
    b = breaker(half_open_permitted_probes=2)
    before_open = admitted(b, T0)
    open_breaker(b)
    assert b.result(before_open, FAIL, 10, T0 + 1) == ()  # its version is gone
    probe = admitted(b, T0 + 10_000)
    assert b.result(probe, OK, 10, T0 + 10_001) == ()
    assert b.result(probe, OK, 10, T0 + 10_002) == ()  # a retry of the same report
    assert (b.state.state, b.state.probes_succeeded) == (State.HALF_OPEN, 1)


# -- operators --------------------------------------------------------------------------------


def test_forced_open_rejects_with_no_time_to_retry_and_forced_closed_counts_nothing() -> None:
    b = breaker()
    (held,) = b.force(State.FORCED_OPEN, "ops@example.com", "deploy", T0)
    assert (held.cause, held.forced_by, held.forced_reason) == (
        Cause.MANUAL,
        "ops@example.com",
        "deploy",
    )
    assert b.acquire(T0 + 10**9).decision == Rejected(State.FORCED_OPEN, None)
    b.force(State.FORCED_CLOSED, "ops@example.com", "trust it", T0)
    permit = admitted(b, T0)
    assert permit == Permit(PermitKind.FORCED, b.state.version)
    assert record(b, "f" * 50) == []
    assert b.result(permit, FAIL, 10, T0) == ()
    assert b.state.state is State.FORCED_CLOSED


def test_reset_closes_with_an_empty_window_and_no_backoff() -> None:
    b = breaker()
    open_breaker(b)
    (reset,) = b.reset("ops@example.com", "fixed upstream", T0 + 1)
    assert (reset.from_state, reset.to_state, reset.reason) == (
        State.OPEN,
        State.CLOSED,
        "fixed upstream",
    )
    assert (b.state.window.calls, b.state.consecutive_opens) == (0, 0)


@pytest.mark.parametrize(
    ("target", "actor", "reason", "message"),
    [
        (State.OPEN, "ops", "why", "forced only"),
        (State.FORCED_OPEN, "", "why", "actor"),
        (State.FORCED_OPEN, "ops", " ", "reason"),
    ],
)
def test_a_manual_change_needs_a_target_an_actor_and_a_reason(
    target: State, actor: str, reason: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        breaker().force(target, actor, reason, T0)


def test_a_disabled_breaker_admits_everything_except_an_operators_hold() -> None:
    b = breaker()
    open_breaker(b)
    b.config = BreakerConfig(enabled=False)
    assert b.acquire(T0 + 1).decision == Permit(PermitKind.UNGUARDED, b.state.version)
    assert record(b, "f" * 50, T0 + 1) == []
    b.force(State.FORCED_OPEN, "ops", "incident", T0 + 2)
    assert isinstance(b.acquire(T0 + 3).decision, Rejected)


# -- time and config --------------------------------------------------------------------------


def test_a_caller_whose_clock_lags_cannot_turn_time_back() -> None:
    b = breaker(half_open_permitted_probes=1)
    open_breaker(b, T0)
    assert b.acquire(T0 + 10_000).transitions  # half open now
    assert b.state.clock_ms == T0 + 10_000
    assert b.acquire(T0).decision == Rejected(State.HALF_OPEN, 5_000)  # T0 is taken as T0 + 10 s


def test_a_window_of_another_shape_is_discarded_and_a_config_change_is_recorded() -> None:
    b = breaker()
    record(b, "sss")
    b.config = BreakerConfig(window_kind=WindowKind.TIME, window_size=60)
    record(b, "f")
    assert (b.state.window.calls, b.state.window.shape) == (1, "time:60")
    (changed,) = b.reconfigure("ops", "", T0)
    assert (changed.from_state, changed.to_state, changed.cause, changed.calls) == (
        State.CLOSED,
        State.CLOSED,
        Cause.CONFIG_CHANGED,
        1,
    )
    assert b.state.window.calls == 0


def test_a_transition_carries_the_numbers_that_caused_it() -> None:
    b = breaker(slow_call_rate_threshold=1.0)
    record(b, "ss")
    (opened,) = b.result(None, FAIL, 2_000, T0) + b.result(None, FAIL, 10, T0)
    assert (opened.calls, opened.failures, opened.slow_calls, opened.consecutive_failures) == (
        4,
        2,
        1,
        2,
    )
    assert opened.metrics()["failure_rate"] == 0.5
    assert opened.metrics()["open_duration_ms"] == 10_000
    assert opened.actor == "realtime"
    assert opened.reason == "2 failures in 4 calls: 2/4 reaches the failure-rate threshold 0.5"
