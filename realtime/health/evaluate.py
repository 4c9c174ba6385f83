"""Health as a pure function: window numbers + thresholds + the current state + now → the next
state and why. No I/O and no clock of its own, so every rule is tested with plain numbers.

Rules, each judged on the 5-minute window unless said otherwise:
- error rate ≥ threshold, once the window holds `min_samples` executions;
- p95 latency ≥ the agent's SLA p95 × multiplier, same sample minimum (no SLA: not judged);
- consecutive failures ≥ threshold (absolute counts: low traffic is judged too);
- silence: at least `min_samples` executions in the last hour, none for `silence_minutes`
  → degraded;
- unknown: no execution in the last hour, or the windows could not be read.
The worst rule wins. A worse state is entered at once; a better one only when the state has
held `hysteresis_min_seconds` and the numbers are below every threshold × `hysteresis_ratio`,
so an agent hovering at a threshold does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from meta_agent.health_thresholds import Thresholds
from realtime.windows import AgentWindows

ONE_HOUR_MS = 3_600_000


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


_SEVERITY = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.CRITICAL: 2}


@dataclass(frozen=True)
class Status:
    """An agent's current health, entered at `since_ms`."""

    state: Health = Health.UNKNOWN
    since_ms: int = 0


@dataclass(frozen=True)
class Evaluation:
    state: Health
    changed: bool
    reason: str
    # the numbers the decision was made on, for the transition row and the published event
    metrics: dict[str, Any]
    # the rules behind the state ("error_rate", "p95_latency", "consecutive_failures",
    # "silence"): alerting raises a silence alert on "silence", not on a reason's wording
    causes: frozenset[str] = frozenset()


Judged = tuple[Health, str, frozenset[str]]


def _judge(windows: AgentWindows, t: Thresholds, now_ms: int, scale: float) -> Judged:
    """The worst level the numbers reach with every threshold scaled by `scale`, why, and
    which rules put it there."""
    found: list[tuple[Health, str, str]] = []
    recent = windows.five_minutes

    def check(value: float, degraded: float, critical: float, describe: str, rule: str) -> None:
        if value >= critical * scale:
            found.append((Health.CRITICAL, f"{describe} ≥ {critical * scale:g}", rule))
        elif value >= degraded * scale:
            found.append((Health.DEGRADED, f"{describe} ≥ {degraded * scale:g}", rule))

    if recent.executions >= t.min_samples:
        rate = recent.failures / recent.executions
        check(
            rate,
            t.error_rate_degraded,
            t.error_rate_critical,
            f"error rate {rate:.3f} over {recent.executions} executions in 5 min",
            "error_rate",
        )
        p95 = recent.latency_p95_ms
        if t.sla_p95_ms is not None and p95 is not None:
            check(
                p95,
                t.sla_p95_ms * t.p95_sla_multiplier_degraded,
                t.sla_p95_ms * t.p95_sla_multiplier_critical,
                f"p95 latency {p95:.0f} ms in 5 min (SLA {t.sla_p95_ms} ms)",
                "p95_latency",
            )
    check(
        windows.consecutive_failures,
        t.consecutive_failures_degraded,
        t.consecutive_failures_critical,
        f"{windows.consecutive_failures} consecutive failures",
        "consecutive_failures",
    )
    last = windows.last_execution_ms
    quiet_ms = None if last is None else now_ms - last
    if (
        windows.one_hour.executions >= t.min_samples
        and quiet_ms is not None
        and quiet_ms >= t.silence_minutes * 60_000
    ):
        found.append((Health.DEGRADED, f"silent for {quiet_ms // 60_000} min", "silence"))
    if not found:
        return Health.HEALTHY, "every number within its threshold", frozenset()
    worst = max(_SEVERITY[level] for level, _, _ in found)
    level = next(level for level, _, _ in found if _SEVERITY[level] == worst)
    chosen = [(why, rule) for lvl, why, rule in found if lvl is level]
    return level, "; ".join(why for why, _ in chosen), frozenset(rule for _, rule in chosen)


def metrics_of(windows: AgentWindows | None, now_ms: int) -> dict[str, Any]:
    if windows is None:
        return {"windows": "unavailable"}
    return {
        "five_minutes": windows.five_minutes.as_dict(),
        "one_hour": windows.one_hour.as_dict(),
        "consecutive_failures": windows.consecutive_failures,
        "last_execution_ms": windows.last_execution_ms,
        "evaluated_ms": now_ms,
    }


def evaluate(
    windows: AgentWindows | None, thresholds: Thresholds, current: Status, now_ms: int
) -> Evaluation:
    """The agent's next health. `windows` None: they could not be read (Redis away or not
    rebuilt yet), which is `unknown`, never a guess."""
    metrics = metrics_of(windows, now_ms)
    causes: frozenset[str] = frozenset()
    if windows is None:
        target, reason = Health.UNKNOWN, "windows unavailable"
    elif windows.one_hour.executions == 0 and (
        windows.last_execution_ms is None or now_ms - windows.last_execution_ms >= ONE_HOUR_MS
    ):
        target, reason = Health.UNKNOWN, "no execution in the last hour"
    else:
        target, reason, causes = _judge(windows, thresholds, now_ms, 1.0)
        if current.state is not Health.UNKNOWN and _SEVERITY[target] < _SEVERITY[current.state]:
            held = now_ms - current.since_ms >= thresholds.hysteresis_min_seconds * 1000
            eased, eased_reason, eased_causes = _judge(
                windows, thresholds, now_ms, thresholds.hysteresis_ratio
            )
            if held and _SEVERITY[eased] < _SEVERITY[current.state]:
                target, reason, causes = eased, f"recovered: {eased_reason}", eased_causes
            else:
                target, causes = current.state, eased_causes
                reason = (
                    f"held {current.state.value}: {eased_reason}"
                    if held
                    else f"held {current.state.value} for hysteresis"
                )
    return Evaluation(target, target is not current.state, reason, metrics, causes)
