"""The pure health function: each rule, the sample minimum, hysteresis, unknown; and the
property that one failure among successes never takes an agent out of healthy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime.health import Health, Status, Thresholds, ThresholdsError, evaluate
from realtime.windows import AgentWindows, WindowStats

NOW = 1_800_000_000_000
HEALTHY = Status(Health.HEALTHY, NOW - 3_600_000)
DEFAULTS = Thresholds()
WITH_SLA = Thresholds(sla_p95_ms=1_000)


def windows(
    n5: int = 50,
    f5: int = 0,
    p95: float | None = 200.0,
    cf: int = 0,
    n1h: int | None = None,
    last_ago_ms: int | None = 1_000,
) -> AgentWindows:
    recent = WindowStats(executions=n5, failures=f5, latency_p95_ms=p95 if n5 else None)
    hour_n = max(n5, n1h or 0)
    hour = WindowStats(executions=hour_n, failures=f5, latency_p95_ms=p95 if hour_n else None)
    last = None if last_ago_ms is None else NOW - last_ago_ms
    return AgentWindows(recent, hour, last, cf)


@pytest.mark.parametrize(
    ("case", "thresholds", "current", "w", "expected"),
    [
        ("quiet and fine", DEFAULTS, HEALTHY, windows(), Health.HEALTHY),
        ("error rate at degraded", DEFAULTS, HEALTHY, windows(n5=50, f5=5), Health.DEGRADED),
        ("error rate just below", DEFAULTS, HEALTHY, windows(n5=50, f5=4), Health.HEALTHY),
        ("error rate critical", DEFAULTS, HEALTHY, windows(n5=50, f5=15), Health.CRITICAL),
        ("too few samples to judge", DEFAULTS, HEALTHY, windows(n5=19, f5=9), Health.HEALTHY),
        ("p95 over the SLA", WITH_SLA, HEALTHY, windows(p95=1_200), Health.DEGRADED),
        ("p95 over twice the SLA", WITH_SLA, HEALTHY, windows(p95=2_500), Health.CRITICAL),
        ("p95 without an SLA", DEFAULTS, HEALTHY, windows(p95=99_000), Health.HEALTHY),
        ("3 failures in a row", DEFAULTS, HEALTHY, windows(n5=3, f5=3, cf=3), Health.DEGRADED),
        ("8 failures in a row", DEFAULTS, HEALTHY, windows(n5=8, f5=8, cf=8), Health.CRITICAL),
        (
            "silent after steady work",
            DEFAULTS,
            HEALTHY,
            windows(n5=0, n1h=40, last_ago_ms=16 * 60_000),
            Health.DEGRADED,
        ),
        (
            "quiet but rare anyway",
            DEFAULTS,
            HEALTHY,
            windows(n5=0, n1h=5, last_ago_ms=40 * 60_000),
            Health.HEALTHY,
        ),
        ("no data", DEFAULTS, HEALTHY, windows(n5=0, last_ago_ms=None), Health.UNKNOWN),
        ("unknown to healthy at once", DEFAULTS, Status(), windows(), Health.HEALTHY),
        (
            "worst rule wins",
            WITH_SLA,
            HEALTHY,
            windows(n5=50, f5=5, p95=3_000),
            Health.CRITICAL,
        ),
    ],
)
def test_rules(
    case: str, thresholds: Thresholds, current: Status, w: AgentWindows, expected: Health
) -> None:
    result = evaluate(w, thresholds, current, NOW)
    assert result.state is expected, (case, result.reason)
    assert result.changed == (expected is not current.state)


def test_unreadable_windows_are_unknown_not_a_guess() -> None:
    result = evaluate(None, DEFAULTS, HEALTHY, NOW)
    assert result.state is Health.UNKNOWN
    assert result.reason == "windows unavailable"


def test_a_worse_state_is_entered_at_once_but_left_only_after_holding_and_with_margin() -> None:
    just_degraded = Status(Health.DEGRADED, NOW - 1_000)
    long_degraded = Status(Health.DEGRADED, NOW - 120_000)
    # 9 % is under the 10 % threshold but over 10 % × 0.8: not recovered however long it held
    assert evaluate(windows(n5=100, f5=9), DEFAULTS, long_degraded, NOW).state is Health.DEGRADED
    # 5 % is clear of the margin, but the state has held only a second
    assert evaluate(windows(n5=100, f5=5), DEFAULTS, just_degraded, NOW).state is Health.DEGRADED
    recovered = evaluate(windows(n5=100, f5=5), DEFAULTS, long_degraded, NOW)
    assert recovered.state is Health.HEALTHY
    assert recovered.reason.startswith("recovered")
    # critical eases one step when the numbers are only clear of the critical margin
    long_critical = Status(Health.CRITICAL, NOW - 120_000)
    assert evaluate(windows(n5=100, f5=20), DEFAULTS, long_critical, NOW).state is Health.DEGRADED
    # worse: at once, whatever the hold
    assert evaluate(windows(n5=100, f5=40), DEFAULTS, just_degraded, NOW).state is Health.CRITICAL


def test_an_agent_hovering_at_the_threshold_does_not_flap() -> None:
    state, since, changes = Status(Health.HEALTHY, NOW - 3_600_000), NOW - 3_600_000, 0
    for step, failures in enumerate([10, 9, 10, 9, 10, 9, 10, 9, 10, 9] * 3):
        now = NOW + step * 10_000
        result = evaluate(windows(n5=100, f5=failures), DEFAULTS, state, now)
        if result.changed:
            changes += 1
            since = now
        state = Status(result.state, since)
    assert changes == 1
    assert state.state is Health.DEGRADED


@given(
    successes=st.integers(min_value=0, max_value=400),
    failure_at=st.integers(min_value=0, max_value=400),
    latency=st.floats(min_value=1, max_value=60_000),
)
def test_a_single_failure_among_successes_never_leaves_healthy(
    successes: int, failure_at: int, latency: float
) -> None:
    """Executions one second apart, evaluated after each; one of them failed."""
    total = successes + 1
    failure_at = min(failure_at, successes)
    for seen in range(1, total + 1):
        in_five_minutes = min(seen, 300)
        failed_recently = failure_at < seen and failure_at >= seen - in_five_minutes
        w = AgentWindows(
            WindowStats(
                executions=in_five_minutes,
                failures=int(failed_recently),
                latency_p95_ms=latency,
            ),
            WindowStats(executions=seen, failures=int(failure_at < seen), latency_p95_ms=latency),
            NOW + seen * 1_000,
            int(failure_at == seen - 1),
        )
        result = evaluate(w, DEFAULTS, HEALTHY, NOW + seen * 1_000)
        assert result.state is Health.HEALTHY, result.reason


def test_thresholds_from_a_row_use_defaults_for_nulls_and_keep_pairs_ordered() -> None:
    row = {"error_rate_degraded": 0.5, "min_samples": None, "updated_by": "x", "agent_id": "a"}
    t = Thresholds.from_row(row, sla_p95_ms=800)
    assert t.error_rate_degraded == 0.5
    assert t.error_rate_critical == 0.5  # moved along with the override
    assert t.min_samples == DEFAULTS.min_samples
    assert t.slow_call_threshold_ms == 800
    assert Thresholds.from_row(None).slow_call_threshold_ms == 60_000
    with pytest.raises(ThresholdsError, match="hysteresis"):
        Thresholds(hysteresis_ratio=0)
