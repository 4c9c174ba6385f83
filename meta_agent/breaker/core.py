"""The breaker's decisions as pure functions: (config, state, now, …) → (new state, result).

This is the specification; `breaker.lua` does exactly the same in Redis, and the tests hold
the two to it step by step. Nothing here reads a clock, does I/O or holds a lock: a caller
takes a permit, runs its call with no lock held, and reports the result afterwards.

Rules, in order of the operations:
- Every operation first clamps `now` to the breaker's clock (never backwards) and discards a
  window recorded under another window shape.
- `advance` (run before acquire and result): in HALF_OPEN, a probe past its deadline counts
  as failed and the breaker reopens, so a hung probe can never wedge it.
- `try_acquire`: CLOSED admits; OPEN rejects until `open_until`, then the first caller turns
  it HALF_OPEN and takes probe slot 0; HALF_OPEN admits exactly `probe_limit` probes, each
  with its own deadline; FORCED_OPEN rejects; FORCED_CLOSED admits.
- `on_result`: in CLOSED a call result (with a current CALL permit, or none, as results read
  from the ingest stream have) is recorded; the breaker opens when, against
  max(calls, min_calls), the failure rate or slow-call rate reaches its threshold, or on the
  consecutive-failure threshold. Below min_calls the failures alone must reach
  threshold × min_calls, so a quiet agent still opens on an absolute count of failures, and
  this is the same for count and time windows. In HALF_OPEN a failed probe reopens it at
  once and `probe_limit` successful probes close it (a slow probe that succeeds is a
  success). A result with a stale permit changes nothing.
- Each open lasts `open_duration_for(consecutive opens)`; closing after probes, a reset or a
  force starts the backoff over. Every transition bumps `version` and clears the window.
"""

from __future__ import annotations

from dataclasses import replace

from meta_agent.breaker.config import BreakerConfig, WindowKind
from meta_agent.breaker.state import (
    AUTOMATIC_ACTOR,
    Acquisition,
    BreakerState,
    Bucket,
    Cause,
    Outcome,
    Permit,
    PermitKind,
    Rejected,
    State,
    Transition,
    Window,
)

Result = tuple[BreakerState, tuple[Transition, ...]]
MANUAL_TARGETS = (State.FORCED_OPEN, State.FORCED_CLOSED)


def begin(config: BreakerConfig, state: BreakerState, now_ms: int) -> BreakerState:
    """The state as every operation sees it at `now_ms`."""
    now = max(now_ms, state.clock_ms)
    window = state.window
    if window.shape != config.window_shape:
        window = Window(config.window_shape)
    return replace(state, clock_ms=now, window=window)


def advance(config: BreakerConfig, state: BreakerState, now_ms: int) -> Result:
    """Apply what time alone decides: an expired probe reopens the breaker."""
    state = begin(config, state, now_ms)
    deadline = state.half_open_deadline_ms
    if state.state is State.HALF_OPEN and deadline is not None and deadline <= state.clock_ms:
        return _open(config, state, Cause.PROBE_DEADLINE)
    return state, ()


def try_acquire(
    config: BreakerConfig, state: BreakerState, now_ms: int
) -> tuple[BreakerState, Acquisition]:
    """May a call run now? A `Permit`, or `Rejected` with when to try again."""
    state = begin(config, state, now_ms)
    if not config.enabled and state.state is not State.FORCED_OPEN:
        return state, Acquisition(Permit(PermitKind.UNGUARDED, state.version), ())
    state, transitions = advance(config, state, now_ms)
    now = state.clock_ms
    match state.state:
        case State.CLOSED:
            return state, Acquisition(Permit(PermitKind.CALL, state.version), transitions)
        case State.FORCED_CLOSED:
            return state, Acquisition(Permit(PermitKind.FORCED, state.version), transitions)
        case State.FORCED_OPEN:
            return state, Acquisition(Rejected(State.FORCED_OPEN, None), transitions)
        case State.OPEN:
            assert state.open_until_ms is not None
            if now < state.open_until_ms:
                rejected = Rejected(State.OPEN, state.open_until_ms - now)
                return state, Acquisition(rejected, transitions)
            half_open = replace(
                state,
                state=State.HALF_OPEN,
                version=state.version + 1,
                changed_ms=now,
                probe_limit=config.half_open_permitted_probes,
                probes_issued=0,
                probes_succeeded=0,
                probe_deadlines=(),
            )
            half_open, permit = _issue_probe(config, half_open)
            record = _transition(config, state, half_open, Cause.OPEN_ELAPSED)
            return half_open, Acquisition(permit, (record,))
        case State.HALF_OPEN:
            if state.probes_issued < state.probe_limit:
                state, permit = _issue_probe(config, state)
                return state, Acquisition(permit, transitions)
            deadline = state.half_open_deadline_ms
            retry = None if deadline is None else deadline - now
            return state, Acquisition(Rejected(State.HALF_OPEN, retry), transitions)
    raise AssertionError(state.state)


def on_result(
    config: BreakerConfig,
    state: BreakerState,
    permit: Permit | None,
    outcome: Outcome,
    duration_ms: int,
    now_ms: int,
) -> Result:
    """Record how a call went. `permit` None: a call seen only afterwards (ingest stream)."""
    if duration_ms < 0:
        raise ValueError(f"duration_ms cannot be negative, got {duration_ms}")
    state = begin(config, state, now_ms)
    if not config.enabled:
        return state, ()
    state, transitions = advance(config, state, now_ms)
    if transitions:  # the state changed under the call: its permit is stale
        return state, transitions
    failed = outcome is Outcome.FAILURE
    slow = duration_ms >= config.slow_call_duration_ms
    kind = PermitKind.CALL if permit is None else permit.kind
    current = permit is None or permit.version == state.version
    if kind is PermitKind.CALL and current and state.state is State.CLOSED:
        return _record(config, state, failed, slow)
    if kind is PermitKind.PROBE and current and state.state is State.HALF_OPEN:
        assert permit is not None
        held = (permit.slot, permit.deadline_ms)
        if held not in state.probe_deadlines:
            return state, ()
        rest = tuple(p for p in state.probe_deadlines if p != held)
        state = replace(state, probe_deadlines=rest)
        if failed:
            return _open(config, state, Cause.PROBE_FAILED)
        state = replace(state, probes_succeeded=state.probes_succeeded + 1)
        if state.probes_succeeded >= state.probe_limit:
            return _close(config, state, State.CLOSED, Cause.PROBE_SUCCEEDED)
    return state, ()


def force(
    config: BreakerConfig,
    state: BreakerState,
    target: State,
    actor: str,
    reason: str,
    now_ms: int,
) -> Result:
    """An operator holds the breaker open or closed until a reset."""
    if target not in MANUAL_TARGETS:
        raise ValueError(f"a breaker can be forced only to {' or '.join(MANUAL_TARGETS)}")
    _check_manual(actor, reason)
    state = begin(config, state, now_ms)
    forced = _cleared(config, state, target, forced_by=actor, forced_reason=reason)
    return forced, (_transition(config, state, forced, Cause.MANUAL, actor, reason),)


def reset(
    config: BreakerConfig, state: BreakerState, actor: str, reason: str, now_ms: int
) -> Result:
    """Back to CLOSED with an empty window and no backoff, whatever the state."""
    _check_manual(actor, reason)
    state = begin(config, state, now_ms)
    closed = _cleared(config, state, State.CLOSED)
    return closed, (_transition(config, state, closed, Cause.MANUAL, actor, reason),)


def reconfigure(
    config: BreakerConfig, state: BreakerState, actor: str, reason: str, now_ms: int
) -> Result:
    """Record a config change: same state, a new version, a window started afresh under
    the new thresholds. Calls admitted before it report into nothing."""
    _check_manual(actor, reason, reason_required=False)
    state = begin(config, state, now_ms)
    changed = replace(state, version=state.version + 1, window=Window(config.window_shape))
    return changed, (_transition(config, state, changed, Cause.CONFIG_CHANGED, actor, reason),)


def describe(config: BreakerConfig, t: Transition) -> str:
    """The audit row's reason for an automatic transition."""
    considered = max(t.calls, config.min_calls)
    match t.cause:
        case Cause.FAILURE_RATE:
            return (
                f"{t.failures} failures in {t.calls} calls: {t.failures}/{considered}"
                f" reaches the failure-rate threshold {config.failure_rate_threshold:g}"
            )
        case Cause.SLOW_CALL_RATE:
            return (
                f"{t.slow_calls} calls of {config.slow_call_duration_ms} ms or more in {t.calls}"
                f" calls: {t.slow_calls}/{considered} reaches the slow-call-rate threshold"
                f" {config.slow_call_rate_threshold:g}"
            )
        case Cause.CONSECUTIVE_FAILURES:
            return f"{t.consecutive_failures} failures in a row"
        case Cause.OPEN_ELAPSED:
            return "open period over; admitting probes"
        case Cause.PROBE_SUCCEEDED:
            return f"{t.probes_succeeded} probes succeeded"
        case Cause.PROBE_FAILED:
            return "a probe failed"
        case Cause.PROBE_DEADLINE:
            return "a probe did not report before its deadline"
    return ""


def _check_manual(actor: str, reason: str, *, reason_required: bool = True) -> None:
    if not 1 <= len(actor.strip()) <= 200:
        raise ValueError("actor must be 1 to 200 characters")
    if reason_required and not reason.strip():
        raise ValueError("a manual change needs a reason")
    if len(reason) > 2_000:
        raise ValueError("reason must be at most 2000 characters")


def _issue_probe(config: BreakerConfig, state: BreakerState) -> tuple[BreakerState, Permit]:
    slot = state.probes_issued
    deadline = state.clock_ms + config.half_open_deadline_ms
    state = replace(
        state,
        probes_issued=slot + 1,
        probe_deadlines=(*state.probe_deadlines, (slot, deadline)),
    )
    return state, Permit(PermitKind.PROBE, state.version, slot, deadline)


def _record(config: BreakerConfig, state: BreakerState, failed: bool, slow: bool) -> Result:
    window = state.window
    size = config.window_size
    if config.window_kind is WindowKind.COUNT:
        window = replace(window, outcomes=(*window.outcomes, int(failed) + 2 * int(slow))[-size:])
    else:
        second = state.clock_ms // 1000
        buckets = [b for b in window.buckets if b.second > second - size]
        last = (
            buckets.pop() if buckets and buckets[-1].second == second else Bucket(second, 0, 0, 0)
        )
        buckets.append(
            Bucket(
                second,
                last.calls + 1,
                last.failures + int(failed),
                last.slow_calls + int(slow),
            )
        )
        window = replace(window, buckets=tuple(buckets))
    consecutive = state.consecutive_failures + 1 if failed else 0
    state = replace(state, window=window, consecutive_failures=consecutive)

    considered = max(window.calls, config.min_calls)
    limit = config.consecutive_failures_threshold
    # a division, not threshold × calls: 7 / 10 ≥ 0.7 holds in floating point, 7 ≥ 0.7 × 10
    # does not (0.7 × 10 = 7.000000000000001)
    if window.failures / considered >= config.failure_rate_threshold:
        return _open(config, state, Cause.FAILURE_RATE)
    if window.slow_calls / considered >= config.slow_call_rate_threshold:
        return _open(config, state, Cause.SLOW_CALL_RATE)
    if limit is not None and consecutive >= limit:
        return _open(config, state, Cause.CONSECUTIVE_FAILURES)
    return state, ()


def _open(config: BreakerConfig, state: BreakerState, cause: Cause) -> Result:
    now = state.clock_ms
    opens = state.consecutive_opens + 1
    opened = replace(
        _cleared(config, state, State.OPEN),
        opened_ms=now,
        open_until_ms=now + config.open_duration_for(opens),
        consecutive_opens=opens,
    )
    return opened, (_transition(config, state, opened, cause),)


def _close(config: BreakerConfig, state: BreakerState, target: State, cause: Cause) -> Result:
    closed = _cleared(config, state, target)
    return closed, (_transition(config, state, closed, cause),)


def _cleared(
    config: BreakerConfig,
    state: BreakerState,
    target: State,
    *,
    forced_by: str | None = None,
    forced_reason: str | None = None,
) -> BreakerState:
    """`target` entered now: a new version, no window, no probes, no backoff."""
    return BreakerState(
        state=target,
        version=state.version + 1,
        changed_ms=state.clock_ms,
        clock_ms=state.clock_ms,
        forced_by=forced_by,
        forced_reason=forced_reason,
        window=Window(config.window_shape),
    )


def _transition(
    config: BreakerConfig,
    before: BreakerState,
    after: BreakerState,
    cause: Cause,
    actor: str = AUTOMATIC_ACTOR,
    reason: str = "",
) -> Transition:
    record = Transition(
        from_state=before.state,
        to_state=after.state,
        cause=cause,
        version=after.version,
        at_ms=after.clock_ms,
        actor=actor,
        reason=reason,
        calls=before.window.calls,
        failures=before.window.failures,
        slow_calls=before.window.slow_calls,
        consecutive_failures=before.consecutive_failures,
        probes_succeeded=before.probes_succeeded,
        consecutive_opens=after.consecutive_opens,
        opened_ms=after.opened_ms,
        open_until_ms=after.open_until_ms,
        probe_limit=after.probe_limit,
        probes_issued=after.probes_issued,
        probes_out=after.probe_deadlines,
        forced_by=after.forced_by,
        forced_reason=after.forced_reason,
    )
    if actor == AUTOMATIC_ACTOR and not reason:
        record = replace(record, reason=describe(config, record))
    return record
