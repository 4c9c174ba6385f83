"""The burn-rate rules fire on synthetic error series exactly when the SRE workbook says."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import pytest

from meta_agent.alerting.burn_rate import (
    DEFAULT_RULES,
    BurnVerdict,
    WindowCounts,
    evaluate,
    windows_of,
)

BUDGET = 0.001  # a 99.9 % success-rate SLA
MINUTE = 60
HOUR = 3600
WINDOWS = windows_of(DEFAULT_RULES)
DAY = 24 * 60  # minutes
HISTORY = 3 * DAY  # minutes of history before a test's events, so every window is full


class Series:
    """Executions and failures per minute; window counts at any minute by prefix sums."""

    def __init__(self, minutes: int, traffic: Callable[[int], tuple[int, int]]) -> None:
        per_minute = [traffic(m) for m in range(minutes)]
        self.executions = [0, *itertools.accumulate(e for e, _ in per_minute)]
        self.failures = [0, *itertools.accumulate(f for _, f in per_minute)]

    def counts_at(self, minute: int) -> dict[int, WindowCounts]:
        """Counts of the windows ending just after `minute` (that minute included)."""
        end = minute + 1
        counts = {}
        for window_s in WINDOWS:
            start = max(0, end - window_s // MINUTE)
            counts[window_s] = WindowCounts(
                self.executions[end] - self.executions[start],
                self.failures[end] - self.failures[start],
            )
        return counts

    def verdict_at(self, minute: int) -> BurnVerdict:
        return evaluate(self.counts_at(minute), BUDGET)


def steady(executions: int, failures: int) -> Callable[[int], tuple[int, int]]:
    return lambda _minute: (executions, failures)


def first_firing(series: Series, minutes: range) -> int | None:
    return next((m for m in minutes if series.verdict_at(m).fires), None)


def test_the_default_rules_are_the_workbooks():
    assert [(r.name, r.long_window_s, r.short_window_s, r.burn_rate_factor, r.severity)
            for r in DEFAULT_RULES] == [
        ("fast", 3600, 300, 14.4, "critical"),
        ("medium", 21600, 1800, 6.0, "critical"),
        ("slow", 259200, 21600, 1.0, "warning"),
    ]  # fmt: skip
    assert WINDOWS == (300, 1800, 3600, 21600, 259200)


def test_a_steady_error_rate_at_the_budget_never_fires():
    # 0.1 % against 99.9 %: spending exactly the budget is on target, for four days
    series = Series(4 * 24 * 60, steady(1000, 1))
    assert first_firing(series, range(0, 4 * 24 * 60, 7)) is None
    verdict = series.verdict_at(4 * 24 * 60 - 1)
    assert verdict.status == "clear"
    assert verdict.burn_rates[3600] == pytest.approx(1.0)


def test_a_sudden_total_outage_pages_on_the_fast_rule_within_five_minutes():
    outage_at = 6 * 60  # after six healthy hours
    series = Series(8 * 60, lambda m: (100, 100 if m >= outage_at else 0))
    assert first_firing(series, range(outage_at)) is None
    fired = first_firing(series, range(outage_at, 8 * 60))
    assert fired is not None
    assert fired < outage_at + 5
    verdict = series.verdict_at(fired)
    assert verdict.rule is not None
    assert verdict.rule.name == "fast"
    assert verdict.severity == "critical"
    assert verdict.reason.startswith("burning the error budget at ")
    assert verdict.reason.endswith("over 5 min (threshold 14.4×)")


def test_a_slow_double_burn_opens_only_a_ticket_after_half_of_three_days():
    # 0.2 % after three clean days: the 3-day window passes 1× after 1.5 days of it; the
    # paging rules (6× and 14.4×) never see it
    begins = HISTORY
    series = Series(begins + 4 * DAY, lambda m: (1000, 2 if m >= begins else 0))
    fired = first_firing(series, range(begins, begins + 4 * DAY))
    assert fired is not None
    assert abs(fired - (begins + 36 * 60)) <= 2
    for minute in range(fired, begins + 4 * DAY, 11):
        verdict = series.verdict_at(minute)
        assert [r.name for r in verdict.firing] == ["slow"]
        assert verdict.severity == "warning"


def test_after_an_outage_the_short_windows_clear_the_alert_while_the_long_ones_are_high():
    # ten minutes at 100 % after three days at the usual 0.1 %: it pages on every rule
    start, end = HISTORY, HISTORY + 10
    series = Series(end + 7 * 60, lambda m: (1000, 1000 if start <= m < end else 1))
    during = series.verdict_at(end - 1)
    assert [r.name for r in during.firing] == ["fast", "medium", "slow"]
    after = range(end, end + 7 * 60)

    # the fast rule lets go within its 5-minute short window, though the hour still remembers
    fast_stops = next(m for m in after if "fast" not in _names(series, m))
    assert fast_stops <= end + 5
    assert series.verdict_at(fast_stops).burn_rates[3600] > 14.4

    # no rule pages within the medium rule's 30-minute short window, though 6 h remember
    paging_stops = next(m for m in after if series.verdict_at(m).severity != "critical")
    assert paging_stops <= end + 30
    assert series.verdict_at(paging_stops).burn_rates[21600] > 6
    assert series.verdict_at(paging_stops).severity == "warning"  # 23 % of 3 days' budget went

    # the ticket clears when the outage leaves the slow rule's 6-hour short window
    cleared = next(m for m in after if not series.verdict_at(m).fires)
    assert abs(cleared - (end + 6 * 60)) <= 1
    assert series.verdict_at(cleared).burn_rates[259200] > 1
    assert first_firing(series, range(cleared, end + 7 * 60)) is None


def _names(series: Series, minute: int) -> set[str]:
    return {r.name for r in series.verdict_at(minute).firing}


def test_empty_windows_burn_nothing_and_say_so():
    verdict = evaluate({w: WindowCounts(0, 0) for w in WINDOWS}, BUDGET)
    assert verdict.status == "clear"
    assert verdict.rule is None
    assert verdict.severity is None
    assert all(rate == 0 for rate in verdict.burn_rates.values())
    assert verdict.reason == "no executions in any window"


def test_a_lone_failure_of_a_quiet_agent_does_not_page():
    lone = {w: WindowCounts(1, 1) for w in WINDOWS}
    verdict = evaluate(lone, BUDGET)
    assert not verdict.fires
    assert [r.name for r in verdict.held_back] == ["fast", "medium", "slow"]
    assert "only 1 executions in the last 5 min (fewer than 10)" in verdict.reason
    # the same ratio over the minimum is evidence
    busy = {w: WindowCounts(10, 10) for w in WINDOWS}
    assert evaluate(busy, BUDGET).rule == DEFAULT_RULES[0]
    assert evaluate(lone, BUDGET, min_executions=1).fires


def test_the_long_window_dilutes_one_failure_among_enough_calls():
    # ten calls in 5 minutes, one failed (100×), but 120 in the hour (8.3×): no page
    counts = {w: WindowCounts(10 * w // 300, 1) for w in WINDOWS}
    verdict = evaluate(counts, BUDGET)
    assert "fast" not in {r.name for r in verdict.firing}


def test_the_reason_names_the_rates_of_the_firing_rule():
    counts = {
        300: WindowCounts(1000, 16),
        1800: WindowCounts(6000, 20),
        3600: WindowCounts(10000, 152),
        21600: WindowCounts(60000, 160),
        259200: WindowCounts(720000, 200),
    }
    verdict = evaluate(counts, BUDGET)
    assert verdict.reason == (
        "burning the error budget at 15.2× over 1 h and 16.0× over 5 min (threshold 14.4×)"
    )


def test_within_limits_the_reason_lists_each_rules_long_window():
    counts = {w: WindowCounts(1000, 0) for w in WINDOWS}
    assert evaluate(counts, BUDGET).reason == (
        "error budget burn within limits: 0.0× over 1 h, 0.0× over 6 h, 0.0× over 3 d"
    )


def test_a_hundred_percent_target_burns_without_bound_on_any_failure():
    counts = {w: WindowCounts(100, 0) for w in WINDOWS} | {300: WindowCounts(100, 1)}
    verdict = evaluate(counts, 0.0)
    assert math.isinf(verdict.burn_rates[300])
    assert verdict.burn_rates[3600] == 0
    assert not verdict.fires  # the long windows hold no failure


@pytest.mark.parametrize("budget", [-0.1, 1.5, math.nan])
def test_an_impossible_error_budget_is_refused(budget: float):
    with pytest.raises(ValueError, match="error budget"):
        evaluate({w: WindowCounts(1, 0) for w in WINDOWS}, budget)


def test_a_missing_window_is_refused():
    with pytest.raises(ValueError, match=r"\[259200\]"):
        evaluate({w: WindowCounts(1, 0) for w in WINDOWS[:-1]}, BUDGET)


def test_more_failures_than_executions_is_refused():
    with pytest.raises(ValueError, match="failures <= executions"):
        WindowCounts(1, 2)
