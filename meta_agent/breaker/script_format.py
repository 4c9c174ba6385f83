"""How `breaker.lua` is called and answers: its arguments, and its replies and hashes read
back into the core's values. Kept apart from the store so both sides of the format are in
one place, next to the script's own header that describes it."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from importlib import resources
from typing import Any

from meta_agent.breaker import core
from meta_agent.breaker.config import BreakerConfig, WindowKind
from meta_agent.breaker.state import (
    AUTOMATIC_ACTOR,
    BreakerState,
    Bucket,
    Cause,
    Decision,
    Outcome,
    Permit,
    PermitKind,
    Rejected,
    State,
    Transition,
    Window,
)
from meta_agent.breaker.store import CallResult

SCRIPT = resources.files("meta_agent.breaker").joinpath("breaker.lua").read_text(encoding="utf-8")
TRANSITION_FIELDS = 19


@lru_cache(maxsize=4096)
def config_args(config: BreakerConfig) -> tuple[str, ...]:
    """ARGV[3..15] of the script. Floats as `repr`, which round-trips: Lua parses the same
    double Python holds."""
    return (
        "1" if config.enabled else "0",
        config.window_kind.value,
        str(config.window_size),
        str(config.min_calls),
        repr(config.failure_rate_threshold),
        str(config.slow_call_duration_ms),
        repr(config.slow_call_rate_threshold),
        str(config.consecutive_failures_threshold or 0),
        str(config.open_duration_ms),
        repr(config.backoff_multiplier),
        str(config.max_open_duration_ms),
        str(config.half_open_permitted_probes),
        str(config.half_open_deadline_ms),
    )


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def opt_int(value: Any) -> int | None:
    text = as_text(value)
    return int(text) if text else None


def opt_str(value: Any) -> str | None:
    text = as_text(value)
    return text or None


def check_now(now_ms: int) -> None:
    if now_ms < 0:
        raise ValueError(f"now_ms cannot be negative, got {now_ms}")


def result_args(r: CallResult) -> list[str]:
    """The 7 script arguments of one result."""
    if r.duration_ms < 0:
        raise ValueError(f"duration_ms cannot be negative, got {r.duration_ms}")
    check_now(r.now_ms)
    held = ["", "", "", ""]
    if r.permit is not None:
        held = [
            r.permit.kind.value,
            str(r.permit.version),
            "" if r.permit.slot is None else str(r.permit.slot),
            "" if r.permit.deadline_ms is None else str(r.permit.deadline_ms),
        ]
    return [*held, Outcome(r.outcome).value, str(r.duration_ms), str(r.now_ms)]


def outcome_args(r: CallResult) -> list[str]:
    """The 2 script arguments of one result of a call without a permit (op `outcomes`)."""
    if r.duration_ms < 0:
        raise ValueError(f"duration_ms cannot be negative, got {r.duration_ms}")
    return ["1" if r.outcome == Outcome.FAILURE else "0", str(r.duration_ms)]


def decode_decision(fields: list[str]) -> Decision | None:
    tag, first, second, third, fourth = fields
    if tag == "permit":
        return Permit(PermitKind(first), int(second), opt_int(third), opt_int(fourth))
    if tag == "rejected":
        return Rejected(State(first), opt_int(second))
    return None


def decode_transitions(
    config: BreakerConfig, fields: list[str], actor: str, reason: str
) -> list[tuple[int, Transition]]:
    """The transitions of a reply, each with the index of the result that caused it."""
    return [
        decode_transition(config, fields[i : i + TRANSITION_FIELDS], actor, reason)
        for i in range(0, len(fields), TRANSITION_FIELDS)
    ]


def decode_transition(
    config: BreakerConfig, fields: list[str], actor: str, reason: str
) -> tuple[int, Transition]:
    (
        item,
        from_state,
        to_state,
        cause,
        version,
        at_ms,
        calls,
        failures,
        slow_calls,
        consecutive_failures,
        probes_succeeded,
        consecutive_opens,
        opened_ms,
        open_until_ms,
        probe_limit,
        probes_issued,
        probes_out,
        forced_by,
        forced_reason,
    ) = fields
    out = sorted(
        (int(slot), int(deadline))
        for slot, _, deadline in (p.partition(":") for p in probes_out.split(",") if p)
    )
    record = Transition(
        from_state=State(from_state),
        to_state=State(to_state),
        cause=Cause(cause),
        version=int(version),
        at_ms=int(at_ms),
        actor=actor,
        reason=reason,
        calls=int(calls),
        failures=int(failures),
        slow_calls=int(slow_calls),
        consecutive_failures=int(consecutive_failures),
        probes_succeeded=int(probes_succeeded),
        consecutive_opens=int(consecutive_opens),
        opened_ms=opt_int(opened_ms),
        open_until_ms=opt_int(open_until_ms),
        probe_limit=int(probe_limit),
        probes_issued=int(probes_issued),
        probes_out=tuple(out),
        forced_by=opt_str(forced_by),
        forced_reason=opt_str(forced_reason),
    )
    if actor == AUTOMATIC_ACTOR and not reason:
        record = replace(record, reason=core.describe(config, record))
    return int(item), record


def decode_state(h: dict[str, str], w: dict[str, str]) -> BreakerState:
    if not h:
        return BreakerState()
    shape = h.get("sh", "")
    kind, _, size_text = shape.partition(":")
    window = Window(shape)
    if kind == WindowKind.COUNT and w:
        size, n = int(size_text), int(w.get("n", "0"))
        ring = w.get("r")
        outcomes = tuple(
            int(ring[i % size] if ring is not None else w[f"o{i % size}"])  # (earlier layout)
            for i in range(max(0, n - size), n)
        )
        window = Window(shape, outcomes=outcomes)
    elif kind == WindowKind.TIME and w:
        slots = [f[1:] for f in w if f.startswith("e")]
        buckets = sorted(
            (
                Bucket(int(w[f"e{i}"]), int(w[f"c{i}"]), int(w[f"f{i}"]), int(w[f"s{i}"]))
                for i in slots
            ),
            key=lambda b: b.second,
        )
        window = Window(shape, buckets=tuple(buckets))
    deadlines = sorted((int(f[1:]), int(v)) for f, v in h.items() if f.startswith("d"))
    return BreakerState(
        state=State(h["st"]),
        version=int(h["v"]),
        changed_ms=int(h["ch"]),
        clock_ms=int(h["clk"]),
        opened_ms=opt_int(h.get("oa", "")),
        open_until_ms=opt_int(h.get("ou", "")),
        consecutive_opens=int(h["co"]),
        consecutive_failures=int(h["cf"]),
        probe_limit=int(h["pl"]),
        probes_issued=int(h["pi"]),
        probes_succeeded=int(h["ps"]),
        probe_deadlines=tuple(deadlines),
        forced_by=h.get("fb"),
        forced_reason=h.get("fr"),
        window=window,
    )
