"""Circuit breakers as the API shows and changes them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from api.schemas.common import ReadModel, WriteModel
from meta_agent.breaker.config import (
    MAX_COUNT_WINDOW_CALLS,
    MAX_DURATION_MS,
    MAX_PROBES,
    MAX_TIME_WINDOW_SECONDS,
)

BreakerStateName = Literal["closed", "open", "half_open", "forced_open", "forced_closed"]


class CircuitState(ReadModel):
    """What the SDK caches: the state, and for an open breaker when to try again."""

    state: BreakerStateName
    retry_after_s: float | None = Field(
        description="Open: seconds until probes are admitted (0: now). Otherwise null."
    )


class CircuitStates(ReadModel):
    circuits: dict[str, CircuitState] = Field(
        description="By agent name; names the tenant does not have are left out."
    )
    routing_version: int


class PermitOut(ReadModel):
    token: str = Field(
        description="Put it in the metadata of the execution run under it, key"
        " `metaagent.circuit_permit`, so its outcome reports against this permit."
    )
    kind: Literal["call", "probe", "forced", "unguarded"]
    deadline_ms: int | None = Field(
        description="A probe that has not reported by then (ms since the epoch) counts as failed."
    )


class PermitResult(ReadModel):
    admitted: bool
    permit: PermitOut | None
    circuit: CircuitState


class CircuitWindow(ReadModel):
    calls: int
    failures: int
    slow_calls: int
    failure_rate: float | None
    slow_call_rate: float | None


class CircuitProbes(ReadModel):
    limit: int
    issued: int
    succeeded: int
    deadlines: list[dt.datetime] = Field(description="Of the probes admitted and still out.")


_MAX_MS = MAX_DURATION_MS


class BreakerConfigBody(WriteModel):
    """A complete configuration; a field left out takes its default. Across fields: a count
    window's `min_calls` is at most its `window_size`, and `max_open_duration_ms` is at least
    `open_duration_ms`."""

    enabled: bool = True
    window_kind: Literal["count", "time"] = "count"
    window_size: int = Field(
        100,
        ge=1,
        le=MAX_COUNT_WINDOW_CALLS,
        description=f"Calls (count window) or seconds (time window, at most"
        f" {MAX_TIME_WINDOW_SECONDS}).",
    )
    min_calls: int = Field(20, ge=1, le=1_000_000)
    failure_rate_threshold: float = Field(0.5, gt=0, le=1)
    slow_call_duration_ms: int = Field(60_000, ge=1, le=_MAX_MS)
    slow_call_rate_threshold: float = Field(1.0, gt=0, le=1)
    consecutive_failures_threshold: int | None = Field(
        None, ge=1, le=1_000_000, description="Open after this many failures in a row; null: off."
    )
    open_duration_ms: int = Field(30_000, ge=1, le=_MAX_MS)
    backoff_multiplier: float = Field(2.0, ge=1, le=100)
    max_open_duration_ms: int = Field(600_000, ge=1, le=_MAX_MS)
    half_open_permitted_probes: int = Field(3, ge=1, le=MAX_PROBES)
    half_open_deadline_ms: int = Field(30_000, ge=1, le=_MAX_MS)
    reason: str = Field("", max_length=2000, description="Recorded with the change.")


class BreakerConfigOut(ReadModel):
    enabled: bool
    window_kind: Literal["count", "time"]
    window_size: int
    min_calls: int
    failure_rate_threshold: float
    slow_call_duration_ms: int
    slow_call_rate_threshold: float
    consecutive_failures_threshold: int | None
    open_duration_ms: int
    backoff_multiplier: float
    max_open_duration_ms: int
    half_open_permitted_probes: int
    half_open_deadline_ms: int
    is_default: bool = Field(description="True when the agent has no configuration of its own.")
    updated_by: str | None
    updated_at: dt.datetime | None


class Circuit(ReadModel):
    agent_id: uuid.UUID
    state: BreakerStateName
    version: int
    state_changed_at: dt.datetime | None
    opened_at: dt.datetime | None
    open_until: dt.datetime | None
    retry_after_s: float | None
    consecutive_opens: int
    consecutive_failures: int | None = Field(description="Null when read from Postgres.")
    window: CircuitWindow | None = Field(description="Null when read from Postgres.")
    probes: CircuitProbes | None
    forced_by: str | None
    forced_reason: str | None
    source: Literal["redis", "postgres"] = Field(
        description="`postgres`: Redis was unavailable; the state of the last transition."
    )
    config: BreakerConfigOut


class CircuitAction(WriteModel):
    action: Literal["force_open", "force_closed", "reset"]
    # not blank: the document says so (`pattern`), so a client (or a schema-driven fuzzer) knows
    # that a reason of spaces is refused with the 422 the handler gives it
    reason: str = Field(min_length=1, max_length=2000, pattern=r"\S", description="Why; not blank.")


class CircuitEvent(ReadModel):
    circuit_breaker_event_id: uuid.UUID
    from_state: BreakerStateName
    to_state: BreakerStateName
    cause: str
    actor: str
    reason: str
    occurred_at: dt.datetime
    version: int
    metrics: dict[str, object]
