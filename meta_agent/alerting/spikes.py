"""Spikes against the agent's own baseline, as pure functions over the realtime windows that
`agent_health_realtime` holds (refreshed every 10 s by the realtime sweep).

The recent window is the last 5 minutes; the baseline is the rest of the last hour (the hour
minus those 5 minutes), so a spike does not dilute its own baseline. p95 latency cannot be
split that way, so its baseline is the hour's p95, which the spike can only raise: the rule
errs towards silence.

Each rule needs `MIN_RECENT` executions in 5 minutes and `MIN_BASELINE` in the rest of the
hour, and fires at a ratio to the baseline and an absolute margin (so 0.1 % → 0.4 % is not a
spike); it clears below a lower ratio (hysteresis), and says nothing when there are too few
executions to tell either way.
- error rate: fires at ≥ 3× the baseline and ≥ baseline + 0.10; clears below 1.5× or +0.05;
- p95 latency: fires at ≥ 3× the hour's p95 and ≥ +250 ms; clears below 2×;
- cost per execution: fires at ≥ 3× the baseline's; clears below 2×.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from meta_agent.models.alerting import AlertType

MIN_RECENT = 20
MIN_BASELINE = 50


@dataclass(frozen=True)
class Windows:
    """One agent's row of `agent_health_realtime` (5-minute and 1-hour numbers)."""

    executions_5m: int
    failures_5m: int
    latency_p95_ms_5m: float | None
    cost_usd_5m: float
    executions_1h: int
    failures_1h: int
    latency_p95_ms_1h: float | None
    cost_usd_1h: float


@dataclass(frozen=True)
class Spike:
    alert_type: AlertType
    verdict: Literal["fire", "clear"]
    reason: str
    details: dict[str, Any]


def _ratio(recent: float, base: float) -> float:
    """recent / base, finite (it goes into JSON): a zero baseline counts as a huge ratio."""
    if base > 0:
        return round(recent / base, 3)
    return 1e6 if recent > 0 else 1.0


def spikes(w: Windows) -> list[Spike]:
    """The verdicts the windows allow (a rule without enough executions gives none)."""
    base_runs = w.executions_1h - w.executions_5m
    if w.executions_5m < MIN_RECENT or base_runs < MIN_BASELINE:
        return []
    found: list[Spike] = []
    rate = w.failures_5m / w.executions_5m
    base_rate = (w.failures_1h - w.failures_5m) / base_runs
    ratio = _ratio(rate, base_rate)
    numbers = {"error_rate_5m": round(rate, 4), "baseline_error_rate": round(base_rate, 4)}
    if ratio >= 3 and rate >= base_rate + 0.10:
        why = f"error rate {rate:.1%} in 5 min against {base_rate:.1%} the rest of the hour"
        found.append(Spike("error_rate_spike", "fire", why, {**numbers, "ratio": ratio}))
    elif ratio < 1.5 or rate < base_rate + 0.05:
        found.append(Spike("error_rate_spike", "clear", "error rate back near baseline", numbers))
    p95, base_p95 = w.latency_p95_ms_5m, w.latency_p95_ms_1h
    if p95 is not None and base_p95 is not None and base_p95 > 0:
        ratio = _ratio(p95, base_p95)
        numbers = {"p95_ms_5m": round(p95, 1), "baseline_p95_ms": round(base_p95, 1)}
        if ratio >= 3 and p95 - base_p95 >= 250:
            why = f"p95 latency {p95:.0f} ms in 5 min against {base_p95:.0f} ms over the hour"
            found.append(Spike("latency_spike", "fire", why, {**numbers, "ratio": ratio}))
        elif ratio < 2:
            found.append(Spike("latency_spike", "clear", "latency back near baseline", numbers))
    per_run = w.cost_usd_5m / w.executions_5m
    base_per_run = (w.cost_usd_1h - w.cost_usd_5m) / base_runs
    if base_per_run > 0:
        ratio = _ratio(per_run, base_per_run)
        numbers = {
            "cost_per_execution_5m": round(per_run, 6),
            "baseline_cost_per_execution": round(base_per_run, 6),
        }
        if ratio >= 3:
            why = f"cost per execution ${per_run:.4f} in 5 min against ${base_per_run:.4f}"
            found.append(Spike("cost_spike", "fire", why, {**numbers, "ratio": ratio}))
        elif ratio < 2:
            found.append(Spike("cost_spike", "clear", "cost back near baseline", numbers))
    return found
