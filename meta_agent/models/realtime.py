"""Agent health and circuit breakers as the realtime process records them (migration 0003)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import CostUsd, JsonObject, Name, TableModel

HealthState = Literal["healthy", "degraded", "critical", "unknown"]
CircuitState = Literal["closed", "open", "half_open", "forced_open", "forced_closed"]
BreakerWindowKind = Literal["count", "time"]
BreakerEventCause = Literal[
    "failure_rate",
    "slow_call_rate",
    "consecutive_failures",
    "open_elapsed",
    "probe_succeeded",
    "probe_failed",
    "probe_deadline",
    "manual",
    "config_changed",
]


class AgentHealthRealtime(TableModel):
    """An agent's current health and the 5 min / 1 h window numbers behind it."""

    __table__ = "public.agent_health_realtime"

    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    state: HealthState = "unknown"
    state_since: AwareDatetime
    executions_5m: int = Field(default=0, ge=0)
    failures_5m: int = Field(default=0, ge=0)
    error_rate_5m: float | None = Field(default=None, ge=0, le=1)
    latency_p50_ms_5m: float | None = Field(default=None, ge=0)
    latency_p95_ms_5m: float | None = Field(default=None, ge=0)
    latency_p99_ms_5m: float | None = Field(default=None, ge=0)
    cost_usd_5m: CostUsd = Decimal(0)
    executions_1h: int = Field(default=0, ge=0)
    failures_1h: int = Field(default=0, ge=0)
    error_rate_1h: float | None = Field(default=None, ge=0, le=1)
    latency_p50_ms_1h: float | None = Field(default=None, ge=0)
    latency_p95_ms_1h: float | None = Field(default=None, ge=0)
    latency_p99_ms_1h: float | None = Field(default=None, ge=0)
    cost_usd_1h: CostUsd = Decimal(0)
    consecutive_failures: int = Field(default=0, ge=0)
    last_execution_at: AwareDatetime | None = None
    evaluated_at: AwareDatetime
    # bumped by each transition; a write carrying an older version is stale (migration 0013)
    version: int = Field(default=0, ge=0)
    reason: str = ""
    details: JsonObject = Field(default_factory=dict)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AgentHealthTransition(TableModel):
    __table__ = "public.agent_health_transitions"

    agent_health_transition_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    from_state: HealthState
    to_state: HealthState
    transitioned_at: AwareDatetime
    reason: str = ""
    # the window numbers that caused the transition, as they were at that moment
    metrics: JsonObject = Field(default_factory=dict)
    created_at: AwareDatetime
    # the agent_health_realtime version this transition produced; unique per agent
    version: int | None = Field(default=None, gt=0)


class AgentHealthThresholds(TableModel):
    """Per-agent overrides of the realtime defaults; None means "use the default"."""

    __table__ = "public.agent_health_thresholds"

    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    error_rate_degraded: float | None = Field(default=None, ge=0, le=1)
    error_rate_critical: float | None = Field(default=None, ge=0, le=1)
    p95_sla_multiplier_degraded: float | None = Field(default=None, gt=0)
    p95_sla_multiplier_critical: float | None = Field(default=None, gt=0)
    consecutive_failures_degraded: int | None = Field(default=None, gt=0)
    consecutive_failures_critical: int | None = Field(default=None, gt=0)
    silence_minutes: int | None = Field(default=None, gt=0)
    min_samples: int | None = Field(default=None, gt=0)
    hysteresis_ratio: float | None = Field(default=None, gt=0, le=1)
    hysteresis_min_seconds: int | None = Field(default=None, ge=0)
    updated_by: str | None = None
    # a call slower than this counts as slow; None: the agent's SLA p95, else 60 s
    slow_call_ms: int | None = Field(default=None, gt=0)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CircuitBreakerConfig(TableModel):
    """A complete breaker configuration; window_size counts calls or seconds per window_kind."""

    __table__ = "public.circuit_breaker_configs"

    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    enabled: bool = True
    window_kind: BreakerWindowKind = "count"
    window_size: int = Field(default=100, gt=0)
    min_calls: int = Field(default=20, gt=0)
    failure_rate_threshold: float = Field(default=0.5, gt=0, le=1)
    slow_call_duration_ms: int = Field(default=60000, gt=0)
    slow_call_rate_threshold: float = Field(default=1.0, gt=0, le=1)
    # None disables the consecutive-failure trigger
    consecutive_failures_threshold: int | None = Field(default=None, gt=0)
    open_duration_ms: int = Field(default=30000, gt=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)
    max_open_duration_ms: int = 600000
    half_open_permitted_probes: int = Field(default=3, gt=0)
    half_open_deadline_ms: int = Field(default=30000, gt=0)
    updated_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CircuitBreakerState(TableModel):
    """The durable copy of a breaker's state; `version` guards against stale writers."""

    __table__ = "public.circuit_breaker_states"

    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    state: CircuitState = "closed"
    state_changed_at: AwareDatetime
    opened_at: AwareDatetime | None = None
    open_until: AwareDatetime | None = None
    consecutive_opens: int = Field(default=0, ge=0)
    half_open_permits_remaining: int = Field(default=0, ge=0)
    half_open_deadline_at: AwareDatetime | None = None
    forced_by: str | None = None
    forced_reason: str | None = None
    version: int = Field(default=0, ge=0)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CircuitBreakerEvent(TableModel):
    __table__ = "public.circuit_breaker_events"

    circuit_breaker_event_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    from_state: CircuitState
    to_state: CircuitState
    occurred_at: AwareDatetime
    cause: BreakerEventCause
    # 'realtime' for automatic transitions, otherwise the person or API key that acted
    actor: Name
    reason: str = ""
    metrics: JsonObject = Field(default_factory=dict)
    # the state row's version after the change
    version: int = Field(gt=0)
    created_at: AwareDatetime
