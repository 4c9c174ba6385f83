"""The values a breaker works with: its state, the decisions it hands out, its transitions.

All immutable. Times are integer milliseconds since the epoch, given by the caller (the
breaker has no clock of its own), so Python and Lua compute with exactly the same numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
AUTOMATIC_ACTOR = "realtime"


def to_datetime(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


def to_ms(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"


class Cause(StrEnum):
    """Why a transition happened; the values of `circuit_breaker_events.cause`."""

    FAILURE_RATE = "failure_rate"
    SLOW_CALL_RATE = "slow_call_rate"
    CONSECUTIVE_FAILURES = "consecutive_failures"
    OPEN_ELAPSED = "open_elapsed"
    PROBE_SUCCEEDED = "probe_succeeded"
    PROBE_FAILED = "probe_failed"
    PROBE_DEADLINE = "probe_deadline"
    MANUAL = "manual"
    CONFIG_CHANGED = "config_changed"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


class PermitKind(StrEnum):
    CALL = "call"  # CLOSED: the result feeds the window
    PROBE = "probe"  # HALF_OPEN: one of the N probe slots
    FORCED = "forced"  # FORCED_CLOSED: admitted, the result is not counted
    UNGUARDED = "unguarded"  # the breaker is disabled: admitted, not counted


@dataclass(frozen=True)
class Permit:
    """Leave to run one call. Hand it back with the result; a permit from an older `version`
    (the breaker changed state since) is ignored, so a late result never counts twice."""

    kind: PermitKind
    version: int
    slot: int | None = None
    deadline_ms: int | None = None


@dataclass(frozen=True)
class Rejected:
    """The call must not run. `retry_after_ms` is None while an operator holds it open."""

    state: State
    retry_after_ms: int | None


Decision = Permit | Rejected


@dataclass(frozen=True)
class Bucket:
    """One second of a time window."""

    second: int
    calls: int
    failures: int
    slow_calls: int


@dataclass(frozen=True)
class Window:
    """The recorded calls: one outcome code per call (count window, oldest first) or one
    bucket per second (time window, oldest first). Code = 1 × failed + 2 × slow."""

    shape: str = ""
    outcomes: tuple[int, ...] = ()
    buckets: tuple[Bucket, ...] = ()

    @property
    def calls(self) -> int:
        return len(self.outcomes) + sum(b.calls for b in self.buckets)

    @property
    def failures(self) -> int:
        return sum(c & 1 for c in self.outcomes) + sum(b.failures for b in self.buckets)

    @property
    def slow_calls(self) -> int:
        return sum(c >> 1 for c in self.outcomes) + sum(b.slow_calls for b in self.buckets)


@dataclass(frozen=True)
class BreakerState:
    """Everything one breaker holds; `BreakerState()` is a breaker that has never acted.

    `clock_ms` is the latest time the breaker was given: an earlier `now` (a caller whose clock
    lags) is taken as this, so time never runs backwards for one breaker. The probe fields
    describe the current HALF_OPEN round: `probe_limit` is fixed when the round starts, slots
    are numbered in order of admission, and `probe_deadlines` holds (slot, deadline) of the
    probes that have not reported.
    """

    state: State = State.CLOSED
    version: int = 0
    changed_ms: int = 0
    clock_ms: int = 0
    opened_ms: int | None = None
    open_until_ms: int | None = None
    consecutive_opens: int = 0
    consecutive_failures: int = 0
    probe_limit: int = 0
    probes_issued: int = 0
    probes_succeeded: int = 0
    probe_deadlines: tuple[tuple[int, int], ...] = ()
    forced_by: str | None = None
    forced_reason: str | None = None
    window: Window = field(default_factory=Window)

    @property
    def half_open_deadline_ms(self) -> int | None:
        """The earliest deadline among the probes still out."""
        return min((d for _, d in self.probe_deadlines), default=None)


@dataclass(frozen=True)
class Transition:
    """One change of state (or a manual action / config change that keeps it), for the audit
    row: the numbers that caused it, and the persisted fields of the state it led to."""

    from_state: State
    to_state: State
    cause: Cause
    version: int
    at_ms: int
    actor: str
    reason: str
    # what the breaker had seen when it changed
    calls: int
    failures: int
    slow_calls: int
    consecutive_failures: int
    probes_succeeded: int
    # the state it changed to: what `circuit_breaker_states` stores, and the half-open round
    # (probe limit, probes admitted, (slot, deadline) of those still out) for a restore
    consecutive_opens: int
    opened_ms: int | None
    open_until_ms: int | None
    probe_limit: int
    probes_issued: int
    probes_out: tuple[tuple[int, int], ...]
    forced_by: str | None
    forced_reason: str | None

    @property
    def permits_remaining(self) -> int:
        return max(0, self.probe_limit - self.probes_issued)

    @property
    def half_open_deadline_ms(self) -> int | None:
        return min((d for _, d in self.probes_out), default=None)

    def metrics(self) -> dict[str, object]:
        """The numbers behind the transition, for `circuit_breaker_events.metrics`; under
        `half_open`, the round it left (what a restore needs beyond the state row)."""
        return {
            "calls": self.calls,
            "failures": self.failures,
            "slow_calls": self.slow_calls,
            "failure_rate": self.failures / self.calls if self.calls else None,
            "slow_call_rate": self.slow_calls / self.calls if self.calls else None,
            "consecutive_failures": self.consecutive_failures,
            "probes_succeeded": self.probes_succeeded,
            "consecutive_opens": self.consecutive_opens,
            "open_duration_ms": (
                self.open_until_ms - self.opened_ms
                if self.open_until_ms is not None and self.opened_ms is not None
                else None
            ),
            "half_open": {
                "probe_limit": self.probe_limit,
                "probes_issued": self.probes_issued,
                "probes_out": [list(p) for p in self.probes_out],
            },
        }


class Acquisition(NamedTuple):
    decision: Decision
    transitions: tuple[Transition, ...]
