"""Agent health as the realtime worker records it, read with a staleness rule, and the
per-agent thresholds it is judged against.

Effective state: the recorded state while its evaluation is fresh; `unknown` (with `stale`
true) once the row is older than `METAAGENT_HEALTH_STALE_AFTER_S`, because the worker
rewrites every agent's row every 10 s and an old row means it, or Redis, is down. An agent the
worker never evaluated is `unknown` with no numbers.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import JSON_INTEGER, ReadModel, WriteModel
from meta_agent.models.realtime import CircuitState, HealthState


class HealthWindow(ReadModel):
    """One sliding window's numbers as of the last evaluation."""

    executions: int
    failures: int
    error_rate: float | None = Field(description="Null without executions.")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    cost_usd: Decimal


class BreakerSummary(ReadModel):
    """The agent's circuit breaker as last recorded; `closed` when it never changed."""

    state: CircuitState
    state_changed_at: dt.datetime | None = Field(description="Null: never changed.")
    open_until: dt.datetime | None = Field(description="While open: when probes start.")


class AgentHealth(ReadModel):
    agent_id: uuid.UUID
    agent_name: str
    state: HealthState = Field(
        description="Effective: the recorded state, or `unknown` when stale or never evaluated."
    )
    stale: bool = Field(
        description="The last evaluation is older than the staleness limit: the realtime worker"
        " or Redis may be down, so the recorded state is not trusted."
    )
    recorded_state: HealthState | None = Field(
        description="What the worker last recorded; null: never evaluated."
    )
    state_since: dt.datetime | None = Field(description="When the recorded state was entered.")
    reason: str | None = Field(description="Why the worker recorded that state.")
    evaluated_at: dt.datetime | None
    version: int = Field(description="Rises by one per transition; 0: never evaluated.")
    five_minutes: HealthWindow | None = Field(description="Null: never evaluated.")
    one_hour: HealthWindow | None = Field(description="Null: never evaluated.")
    consecutive_failures: int | None
    last_execution_at: dt.datetime | None
    details: dict[str, Any] = Field(description="The numbers the last evaluation was made on.")
    circuit_breaker: BreakerSummary


class HealthCounts(ReadModel):
    """Agents by effective state (archived agents left out); `stale` counts those of the
    `unknown` ones whose row is stale."""

    total: int
    healthy: int
    degraded: int
    critical: int
    unknown: int
    stale: int


class FleetHealth(BaseModel):
    """One page of the tenant's agents with their health, and counts over all of them."""

    items: list[AgentHealth]
    next_cursor: str | None = Field(default=None, description="Opaque; absent on the last page.")
    counts: HealthCounts
    stale_after_s: float = Field(description="Rows evaluated longer ago than this are stale.")
    as_of: dt.datetime


class HealthTransition(ReadModel):
    agent_health_transition_id: uuid.UUID
    from_state: HealthState
    to_state: HealthState
    transitioned_at: dt.datetime
    reason: str
    metrics: dict[str, Any] = Field(description="The numbers that caused it, at that moment.")
    version: int | None


# Bounds: the table's CHECK constraints, and an upper bound where the column has none (so
# that a number the column cannot hold is a 422 here, not an error in SQL).
Rate = Annotated[float, Field(ge=0, le=1), JSON_INTEGER]
Multiplier = Annotated[float, Field(gt=0, le=1000), JSON_INTEGER]
Failures = Annotated[int, Field(gt=0, le=1_000_000), JSON_INTEGER]
Minutes = Annotated[int, Field(gt=0, le=525_600), JSON_INTEGER]
Samples = Annotated[int, Field(gt=0, le=1_000_000), JSON_INTEGER]
Ratio = Annotated[float, Field(gt=0, le=1), JSON_INTEGER]
Seconds = Annotated[int, Field(ge=0, le=604_800), JSON_INTEGER]
Milliseconds = Annotated[int, Field(gt=0, le=86_400_000), JSON_INTEGER]

# (lower, upper): when both are set, the lower may not exceed the upper (as the table checks)
ORDERED_PAIRS = (
    ("error_rate_degraded", "error_rate_critical"),
    ("p95_sla_multiplier_degraded", "p95_sla_multiplier_critical"),
    ("consecutive_failures_degraded", "consecutive_failures_critical"),
)


class ThresholdOverrides(WriteModel):
    """The agent's overrides; null (or left out) means the realtime default. A PUT replaces
    every override, so `{}` returns the agent to the defaults. Of each degraded/critical pair
    the degraded value may not exceed the critical one when both are set."""

    error_rate_degraded: Rate | None = Field(default=None, examples=[0.05])
    error_rate_critical: Rate | None = Field(default=None, examples=[0.2])
    p95_sla_multiplier_degraded: Multiplier | None = Field(
        default=None, description="Of the agent's `sla_p95_ms`, on the 5-minute p95."
    )
    p95_sla_multiplier_critical: Multiplier | None = None
    consecutive_failures_degraded: Failures | None = None
    consecutive_failures_critical: Failures | None = None
    silence_minutes: Minutes | None = Field(
        default=None, description="An active agent with no execution for this long: degraded."
    )
    min_samples: Samples | None = Field(
        default=None, description="Below this many executions in a window rates are not judged."
    )
    hysteresis_ratio: Ratio | None = Field(
        default=None,
        description="A worse state is left only below threshold × ratio (so it does not flap).",
    )
    hysteresis_min_seconds: Seconds | None = Field(
        default=None, description="…and only once it has held this long."
    )
    slow_call_ms: Milliseconds | None = Field(
        default=None, description="A call slower than this counts as slow; null: the SLA p95."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdOverrides:
        for low, high in ORDERED_PAIRS:
            lower, upper = getattr(self, low), getattr(self, high)
            if lower is not None and upper is not None and lower > upper:
                raise ValueError(f"{low} ({lower}) must not exceed {high} ({upper})")
        return self


class EffectiveThresholds(ReadModel):
    """What the agent is judged against: its overrides, the defaults for the rest."""

    error_rate_degraded: float
    error_rate_critical: float
    p95_sla_multiplier_degraded: float
    p95_sla_multiplier_critical: float
    consecutive_failures_degraded: int
    consecutive_failures_critical: int
    silence_minutes: int
    min_samples: int
    hysteresis_ratio: float
    hysteresis_min_seconds: int
    slow_call_ms: int = Field(description="Its own, else the SLA p95, else 60 000.")


class HealthThresholds(ReadModel):
    agent_id: uuid.UUID
    overrides: ThresholdOverrides = Field(description="Null: the realtime default applies.")
    effective: EffectiveThresholds
    sla_p95_ms: int | None = Field(
        description="The agent's SLA p95 (PATCH /v1/agents/{agent_id}), which the p95"
        " multipliers scale; null: latency is not judged."
    )
    updated_by: str | None
    updated_at: dt.datetime | None = Field(description="Null: never set.")
