"""A reference circuit breaker, written from the issue's rules and nothing else.

It shares only the value types with `meta_agent.breaker` (Permit, Rejected, Transition, …),
never its logic, and it computes differently on purpose: it keeps every call since the window
was last cleared and looks at the last N of them (count window) or the seconds since
(time window) when asked; the rates are exact fractions; the backoff is a power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from meta_agent.breaker import (
    Acquisition,
    BreakerConfig,
    Cause,
    Outcome,
    Permit,
    PermitKind,
    Rejected,
    State,
    Transition,
    WindowKind,
)


@dataclass
class Call:
    second: int
    failed: bool
    slow: bool


class ReferenceBreaker:
    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.state = State.CLOSED
        self.version = 0
        self.changed = 0
        self.clock = 0
        self.shape: tuple[WindowKind, int] | None = None
        self.calls: list[Call] = []
        self.last_recorded_second: int | None = None
        self.in_a_row = 0
        self.opens = 0
        self.opened_at: int | None = None
        self.open_until: int | None = None
        self.limit = 0
        self.issued = 0
        self.succeeded = 0
        self.out: dict[int, int] = {}  # slot → deadline of probes that have not reported
        self.forced_by: str | None = None
        self.forced_reason: str | None = None

    # -- what the breaker currently sees -----------------------------------------------------

    def window(self) -> list[Call]:
        if self.shape is None:
            return []
        # the shape the calls were recorded under; a new config's applies from its first call
        kind, size = self.shape
        if kind is WindowKind.COUNT:
            return self.calls[-size:]
        if self.last_recorded_second is None:
            return []
        return [c for c in self.calls if c.second > self.last_recorded_second - size]

    def numbers(self) -> tuple[int, int, int]:
        seen = self.window()
        return len(seen), sum(c.failed for c in seen), sum(c.slow for c in seen)

    def snapshot(self) -> dict[str, object]:
        calls, failures, slow = self.numbers()
        return {
            "state": self.state,
            "version": self.version,
            "changed": self.changed,
            "clock": self.clock,
            "opened": self.opened_at,
            "open_until": self.open_until,
            "consecutive_opens": self.opens,
            "consecutive_failures": self.in_a_row,
            "probe_limit": self.limit,
            "probes_issued": self.issued,
            "probes_succeeded": self.succeeded,
            "probes_out": tuple(sorted(self.out.items())),
            "forced": (self.forced_by, self.forced_reason),
            "window": (calls, failures, slow),
        }

    # -- operations ---------------------------------------------------------------------------

    def acquire(self, now: int) -> Acquisition:
        self._arrive(now)
        if not self.config.enabled and self.state is not State.FORCED_OPEN:
            return Acquisition(Permit(PermitKind.UNGUARDED, self.version), ())
        happened = self._expire_probes()
        if self.state is State.CLOSED:
            return Acquisition(Permit(PermitKind.CALL, self.version), happened)
        if self.state is State.FORCED_CLOSED:
            return Acquisition(Permit(PermitKind.FORCED, self.version), happened)
        if self.state is State.FORCED_OPEN:
            return Acquisition(Rejected(State.FORCED_OPEN, None), happened)
        if self.state is State.OPEN:
            assert self.open_until is not None
            if self.clock < self.open_until:
                return Acquisition(Rejected(State.OPEN, self.open_until - self.clock), happened)
            numbers = self._before()
            self._enter(State.HALF_OPEN)
            permit = self._probe()
            return Acquisition(permit, (self._transition(State.OPEN, Cause.OPEN_ELAPSED, numbers),))
        # half open
        if self.issued < self.limit:
            return Acquisition(self._probe(), happened)
        wait = min(self.out.values()) - self.clock if self.out else None
        return Acquisition(Rejected(State.HALF_OPEN, wait), happened)

    def result(
        self, permit: Permit | None, outcome: Outcome, duration_ms: int, now: int
    ) -> tuple[Transition, ...]:
        self._arrive(now)
        if not self.config.enabled:
            return ()
        happened = self._expire_probes()
        if happened:
            return happened
        failed = outcome is Outcome.FAILURE
        slow = duration_ms >= self.config.slow_call_duration_ms
        if permit is not None and permit.version != self.version:
            return ()
        if (permit is None or permit.kind is PermitKind.CALL) and self.state is State.CLOSED:
            self.calls.append(Call(self.clock // 1000, failed, slow))
            self.last_recorded_second = self.clock // 1000
            self.in_a_row = self.in_a_row + 1 if failed else 0
            return self._judge()
        if permit is not None and permit.kind is PermitKind.PROBE:
            slot = permit.slot
            if self.state is not State.HALF_OPEN or slot is None:
                return ()
            if self.out.get(slot) != permit.deadline_ms:
                return ()
            del self.out[slot]
            if failed:
                numbers = self._before()
                self._enter(State.OPEN)
                return (self._transition(State.HALF_OPEN, Cause.PROBE_FAILED, numbers),)
            self.succeeded += 1
            if self.succeeded >= self.limit:
                numbers = self._before()
                self._enter(State.CLOSED)
                return (self._transition(State.HALF_OPEN, Cause.PROBE_SUCCEEDED, numbers),)
        return ()

    def advance(self, now: int) -> tuple[Transition, ...]:
        self._arrive(now)
        return self._expire_probes()

    def force(self, target: State, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        self._arrive(now)
        was, numbers = self.state, self._before()
        self._enter(target, forced=(actor, reason))
        return (self._transition(was, Cause.MANUAL, numbers, actor, reason),)

    def reset(self, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        self._arrive(now)
        was, numbers = self.state, self._before()
        self._enter(State.CLOSED)
        return (self._transition(was, Cause.MANUAL, numbers, actor, reason),)

    def reconfigure(self, actor: str, reason: str, now: int) -> tuple[Transition, ...]:
        self._arrive(now)
        numbers = self._before()
        self.version += 1
        self._forget_calls()
        return (self._transition(self.state, Cause.CONFIG_CHANGED, numbers, actor, reason),)

    # -- rules --------------------------------------------------------------------------------

    def _arrive(self, now: int) -> None:
        self.clock = max(self.clock, now)
        shape = (self.config.window_kind, self.config.window_size)
        if self.shape != shape:
            self.shape = shape
            self._forget_calls()

    def _forget_calls(self) -> None:
        self.calls = []
        self.last_recorded_second = None

    def _expire_probes(self) -> tuple[Transition, ...]:
        if self.state is State.HALF_OPEN and any(d <= self.clock for d in self.out.values()):
            numbers = self._before()
            self._enter(State.OPEN)
            return (self._transition(State.HALF_OPEN, Cause.PROBE_DEADLINE, numbers),)
        return ()

    def _judge(self) -> tuple[Transition, ...]:
        calls, failures, slow = self.numbers()
        judged_on = max(calls, self.config.min_calls)
        cause = None
        if Fraction(failures, judged_on) >= Fraction(repr(self.config.failure_rate_threshold)):
            cause = Cause.FAILURE_RATE
        elif Fraction(slow, judged_on) >= Fraction(repr(self.config.slow_call_rate_threshold)):
            cause = Cause.SLOW_CALL_RATE
        elif (
            self.config.consecutive_failures_threshold is not None
            and self.in_a_row >= self.config.consecutive_failures_threshold
        ):
            cause = Cause.CONSECUTIVE_FAILURES
        if cause is None:
            return ()
        numbers = self._before()
        self._enter(State.OPEN)
        return (self._transition(State.CLOSED, cause, numbers),)

    def _probe(self) -> Permit:
        slot, deadline = self.issued, self.clock + self.config.half_open_deadline_ms
        self.issued += 1
        self.out[slot] = deadline
        return Permit(PermitKind.PROBE, self.version, slot, deadline)

    def _open_for(self) -> int:
        c = self.config
        exact = Fraction(c.open_duration_ms) * Fraction(repr(c.backoff_multiplier)) ** (
            self.opens - 1
        )
        return math.floor(min(exact, Fraction(c.max_open_duration_ms)))

    def _enter(self, target: State, forced: tuple[str | None, str | None] = (None, None)) -> None:
        self.version += 1
        self.state = target
        self.changed = self.clock
        self._forget_calls()
        self.in_a_row = 0
        self.forced_by, self.forced_reason = forced
        if target is State.HALF_OPEN:
            self.limit, self.issued, self.succeeded, self.out = (
                self.config.half_open_permitted_probes,
                0,
                0,
                {},
            )
            return
        self.limit, self.issued, self.succeeded, self.out = 0, 0, 0, {}
        if target is State.OPEN:
            self.opens += 1
            self.opened_at = self.clock
            self.open_until = self.clock + self._open_for()
        else:
            self.opens = 0
            self.opened_at = self.open_until = None

    def _before(self) -> tuple[int, int, int, int, int]:
        return (*self.numbers(), self.in_a_row, self.succeeded)

    def _transition(
        self,
        was: State,
        cause: Cause,
        numbers: tuple[int, int, int, int, int],
        actor: str = "realtime",
        reason: str = "",
    ) -> Transition:
        calls, failures, slow, in_a_row, succeeded = numbers
        return Transition(
            from_state=was,
            to_state=self.state,
            cause=cause,
            version=self.version,
            at_ms=self.clock,
            actor=actor,
            reason=reason,
            calls=calls,
            failures=failures,
            slow_calls=slow,
            consecutive_failures=in_a_row,
            probes_succeeded=succeeded,
            consecutive_opens=self.opens,
            opened_ms=self.opened_at,
            open_until_ms=self.open_until,
            probe_limit=self.limit,
            probes_issued=self.issued,
            probes_out=tuple(sorted(self.out.items())),
            forced_by=self.forced_by,
            forced_reason=self.forced_reason,
        )
