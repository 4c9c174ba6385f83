"""SLA burn-rate rules: the multiwindow, multi-burn-rate alerts of the Google SRE workbook
("Alerting on SLOs", recommendation 6).

The burn rate of a window is how fast it spends the error budget: its failure ratio divided by
the budget, so 1× spends exactly the budget over the SLA period and 14.4× spends 2 % of a
30-day budget in one hour. A rule fires when both its long window (the evidence that enough
budget is gone to matter) and its short window (the evidence that it is still burning now)
burn faster than its factor; the short window is what lets an alert clear minutes after an
outage ends instead of an hour later.

Pure: the caller supplies the counts per window (`burn_series.load_burn_inputs`) and its own
clock. An `sla_at_risk` alert is raised while `evaluate(...).fires` and cleared when it is not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

RuleName = Literal["fast", "medium", "slow"]
BurnSeverity = Literal["critical", "warning"]

ALERT_TYPE = "sla_at_risk"

# A short window with fewer executions than this is not evidence: at a handful of executions a
# single failure is a 20-100 % failure ratio, hundreds of times any budget, so one unlucky call
# from a quiet agent would page. Ten means at least ten calls in the last 5 minutes before a
# page, and one failure among them must still be matched by the long window, whose larger
# sample (an hour of the same traffic) dilutes a lone failure below 14.4×. A quieter agent
# cannot page on the fast rule at all and is left to the slower rules, whose short windows
# (30 min, 6 h) gather ten executions at lower traffic.
DEFAULT_MIN_EXECUTIONS = 10


@dataclass(frozen=True)
class BurnRule:
    """Fire when both windows burn the error budget faster than `burn_rate_factor`."""

    name: RuleName
    long_window_s: int
    short_window_s: int
    burn_rate_factor: float
    severity: BurnSeverity


# the workbook's table for a 30-day SLO: 2 % of the budget in 1 h and 5 % in 6 h page,
# 10 % in 3 days opens a ticket; each short window is 1/12 of its long one
DEFAULT_RULES: tuple[BurnRule, ...] = (
    BurnRule("fast", 3600, 300, 14.4, "critical"),
    BurnRule("medium", 6 * 3600, 1800, 6.0, "critical"),
    BurnRule("slow", 3 * 86400, 6 * 3600, 1.0, "warning"),
)


def windows_of(rules: Iterable[BurnRule]) -> tuple[int, ...]:
    """Every window (seconds) the rules read, shortest first."""
    return tuple(sorted({w for r in rules for w in (r.long_window_s, r.short_window_s)}))


@dataclass(frozen=True)
class WindowCounts:
    """Decided executions and failures (failure or timeout) in one window."""

    executions: int
    failures: int

    def __post_init__(self) -> None:
        if not 0 <= self.failures <= self.executions:
            raise ValueError(f"need 0 <= failures <= executions, got {self}")

    def burn_rate(self, error_budget: float) -> float:
        """Failure ratio over `error_budget`; an empty window burns nothing."""
        if self.failures == 0:
            return 0.0
        if error_budget == 0:  # a 100 % target: any failure is an unbounded burn
            return math.inf
        return self.failures / self.executions / error_budget


@dataclass(frozen=True)
class BurnVerdict:
    """What one SLA's windows say: fire (with which rules) or clear."""

    fires: bool
    rule: BurnRule | None  # the most severe firing rule
    firing: tuple[BurnRule, ...]
    # rules whose windows both burn too fast but whose short window holds fewer than
    # `min_executions`: not a page, but no evidence of recovery either
    held_back: tuple[BurnRule, ...]
    burn_rates: Mapping[int, float] = field(repr=False)
    reason: str

    @property
    def severity(self) -> BurnSeverity | None:
        return self.rule.severity if self.rule else None

    @property
    def status(self) -> Literal["firing", "clear"]:
        return "firing" if self.fires else "clear"


def _severity_rank(rule: BurnRule) -> tuple[int, float]:
    # critical before warning; among equals the faster burn, which exhausts the budget first
    return (0 if rule.severity == "critical" else 1, -rule.burn_rate_factor)


def evaluate(
    counts: Mapping[int, WindowCounts],
    error_budget: float,
    rules: Iterable[BurnRule] = DEFAULT_RULES,
    *,
    min_executions: int = DEFAULT_MIN_EXECUTIONS,
) -> BurnVerdict:
    """Judge one SLA's windows (`counts`: window seconds → counts) against `rules`.

    `error_budget` is the share of executions allowed to fail (0.001 for a 99.9 % target; 0
    for 100 %). A rule fires when both its windows burn strictly faster than its factor (as
    the workbook's `>`: an SLA spending exactly its budget is on target) and its short window
    holds at least `min_executions` executions.
    """
    if not 0 <= error_budget <= 1:  # also refuses NaN
        raise ValueError(f"error budget must be within [0, 1], got {error_budget}")
    rules = tuple(rules)
    missing = [w for w in windows_of(rules) if w not in counts]
    if missing:
        raise ValueError(f"no counts for windows {missing} (seconds) that the rules read")
    burn = {w: c.burn_rate(error_budget) for w, c in counts.items()}

    firing: list[BurnRule] = []
    held_back: list[BurnRule] = []
    for rule in rules:
        factor = rule.burn_rate_factor
        if burn[rule.long_window_s] > factor and burn[rule.short_window_s] > factor:
            enough = counts[rule.short_window_s].executions >= min_executions
            (firing if enough else held_back).append(rule)
    firing.sort(key=_severity_rank)
    held_back.sort(key=_severity_rank)
    top = firing[0] if firing else None
    return BurnVerdict(
        fires=top is not None,
        rule=top,
        firing=tuple(firing),
        held_back=tuple(held_back),
        burn_rates=burn,
        reason=_reason(top, held_back, rules, counts, burn, min_executions),
    )


def _reason(
    top: BurnRule | None,
    held_back: list[BurnRule],
    rules: tuple[BurnRule, ...],
    counts: Mapping[int, WindowCounts],
    burn: Mapping[int, float],
    min_executions: int,
) -> str:
    if top is not None:
        return (
            f"burning the error budget at {_rate(burn[top.long_window_s])} over"
            f" {_span(top.long_window_s)} and {_rate(burn[top.short_window_s])} over"
            f" {_span(top.short_window_s)} (threshold {top.burn_rate_factor:g}×)"
        )
    if held_back:
        rule = held_back[0]
        return (
            f"burning the error budget at {_rate(burn[rule.long_window_s])} over"
            f" {_span(rule.long_window_s)}, but only {counts[rule.short_window_s].executions}"
            f" executions in the last {_span(rule.short_window_s)} (fewer than {min_executions})"
        )
    if all(counts[w].executions == 0 for w in windows_of(rules)):
        return "no executions in any window"
    within = ", ".join(
        f"{_rate(burn[r.long_window_s])} over {_span(r.long_window_s)}" for r in rules
    )
    return f"error budget burn within limits: {within}"


def _rate(burn_rate: float) -> str:
    return "∞×" if math.isinf(burn_rate) else f"{burn_rate:.1f}×"


def _span(seconds: int) -> str:
    """300 → "5 min", 3600 → "1 h", 259200 → "3 d"."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
