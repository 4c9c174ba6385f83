"""What an agent's health is judged against: the `agent_health_thresholds` row (overrides only,
NULL meaning "the default") and the agent's SLA p95 target from `agents`. Shared by realtime
(which judges) and the API (which shows the effective values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from meta_agent.errors import MetaAgentError

# the breaker's default slow-call duration, for agents with neither a threshold nor an SLA
DEFAULT_SLOW_CALL_MS = 60_000


class ThresholdsError(MetaAgentError):
    """Thresholds health cannot be judged with; the message lists every problem."""


@dataclass(frozen=True)
class Thresholds:
    """Defaults are chosen so that one failure among successes never changes an agent's health:
    rates need `min_samples` executions, and three failures in a row are the least that counts."""

    error_rate_degraded: float = 0.10
    error_rate_critical: float = 0.30
    # p95 latency of the 5-minute window against sla_p95_ms × multiplier (no SLA: not judged)
    p95_sla_multiplier_degraded: float = 1.0
    p95_sla_multiplier_critical: float = 2.0
    consecutive_failures_degraded: int = 3
    consecutive_failures_critical: int = 8
    # an agent with at least min_samples executions in the last hour and none for this long
    silence_minutes: int = 15
    min_samples: int = 20
    # a worse state is entered as soon as a threshold is crossed; a better one only once every
    # number is below threshold × hysteresis_ratio and the state has held this long
    hysteresis_ratio: float = 0.8
    hysteresis_min_seconds: int = 60
    # from the agent, not the thresholds row
    sla_p95_ms: int | None = None
    # None: the SLA p95, else the breaker's default
    slow_call_ms: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.error_rate_degraded <= self.error_rate_critical <= 1:
            problems.append("error rates need 0 ≤ degraded ≤ critical ≤ 1")
        if not 0 < self.p95_sla_multiplier_degraded <= self.p95_sla_multiplier_critical:
            problems.append("p95 multipliers need 0 < degraded ≤ critical")
        if not 0 < self.consecutive_failures_degraded <= self.consecutive_failures_critical:
            problems.append("consecutive failures need 0 < degraded ≤ critical")
        if self.silence_minutes <= 0 or self.min_samples <= 0:
            problems.append("silence_minutes and min_samples must be positive")
        if not 0 < self.hysteresis_ratio <= 1 or self.hysteresis_min_seconds < 0:
            problems.append("hysteresis needs 0 < ratio ≤ 1 and min_seconds ≥ 0")
        for name in ("sla_p95_ms", "slow_call_ms"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append(f"{name} must be positive")
        if problems:
            raise ThresholdsError("; ".join(problems))

    @property
    def slow_call_threshold_ms(self) -> int:
        return self.slow_call_ms or self.sla_p95_ms or DEFAULT_SLOW_CALL_MS

    @classmethod
    def from_row(
        cls, row: Mapping[str, Any] | None, *, sla_p95_ms: int | None = None
    ) -> Thresholds:
        """The thresholds of an `agent_health_thresholds` row (None: no row), NULLs as defaults."""
        names = {f.name for f in fields(cls)} - {"sla_p95_ms"}
        overrides = {k: v for k, v in (row or {}).items() if k in names and v is not None}
        # the table checks a pair only when both are set: one override past the other's
        # default moves that default along instead of making the row unusable
        defaults = cls()
        for low, high in _PAIRS:
            if low in overrides and high not in overrides:
                overrides[high] = max(overrides[low], getattr(defaults, high))
            elif high in overrides and low not in overrides:
                overrides[low] = min(overrides[high], getattr(defaults, low))
        return replace(cls(**overrides), sla_p95_ms=sla_p95_ms)


_PAIRS = (
    ("error_rate_degraded", "error_rate_critical"),
    ("p95_sla_multiplier_degraded", "p95_sla_multiplier_critical"),
    ("consecutive_failures_degraded", "consecutive_failures_critical"),
)
