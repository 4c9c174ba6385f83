"""Faults the simulator injects, planned from the seed alone, and what each does to an execution.

The plan is ground truth: every execution a fault touches carries
`metadata = {"sim_fault": "<kind>"}` and the plan becomes rows of `simulated_faults`, so
clustering and root-cause analysis can be scored against what really happened.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from meta_agent.simulate.profiles import MODEL_PRICES, AgentProfile, Failure, Step

if TYPE_CHECKING:
    from meta_agent.simulate.fleet import FleetSpec

FaultKind = Literal[
    "tool_timeout_storm",
    "prompt_regression",
    "context_overflow",
    "external_api_outage",
    "cost_blowup",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

_PLAN_STREAM = zlib.crc32(b"fault-plan")
# How long each window fault lasts, in hours (low, high); prompt_regression runs to the end.
_DURATION_HOURS: dict[FaultKind, tuple[float, float]] = {
    "tool_timeout_storm": (2.0, 6.0),
    "external_api_outage": (1.0, 2.0),
    "context_overflow": (3.0, 8.0),
    "cost_blowup": (4.0, 10.0),
}


@dataclass(frozen=True)
class PlannedFault:
    """One injected fault: which agent, what kind, when (UTC, end exclusive), and its knobs."""

    agent: str
    kind: FaultKind
    started_at: datetime
    ended_at: datetime
    details: dict[str, Any]

    @property
    def window_us(self) -> tuple[int, int]:
        return _epoch_us(self.started_at), _epoch_us(self.ended_at)


def _epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def find_step(steps: tuple[Step, ...], name: str) -> Step:
    for step in steps:
        if step.name == name:
            return step
        try:
            return find_step(step.children, name)
        except KeyError:
            continue
    raise KeyError(name)


def _details(profile: AgentProfile, kind: FaultKind) -> dict[str, Any] | None:
    """The fault's knobs on this agent, or None when the agent has nothing it could bite."""
    if kind == "tool_timeout_storm" and profile.timeout_tool:
        return {
            "tool": profile.timeout_tool,
            "error_type": "ToolTimeout",
            "failure_rate": 0.85,
            "timeout_ms": 30_000,
        }
    if kind == "external_api_outage" and profile.external_api_tool:
        return {
            "tool": profile.external_api_tool,
            "host": profile.external_api_host,
            "error_type": "ExternalAPIError",
            "http_status": 503,
            "failure_rate": 0.95,
        }
    if kind == "context_overflow" and profile.context_step:
        model = find_step(profile.steps, profile.context_step).model or profile.model
        return {
            "step": profile.context_step,
            "model": model,
            "share": 0.35,
            "context_window": MODEL_PRICES[model].context_window,
            "error_type": "ContextWindowExceeded",
        }
    if kind == "cost_blowup" and profile.loop_step:
        return {"step": profile.loop_step, "share": 0.6, "extra_calls": [6, 20]}
    if kind == "prompt_regression" and profile.prompt_step:
        return {
            "step": profile.prompt_step,
            "from_version": 1,
            "to_version": 2,
            "error_type": "OutputParseError",
            "extra_failure_rate": 0.15,
        }
    return None


@lru_cache(maxsize=32)
def plan_faults(spec: FleetSpec) -> tuple[PlannedFault, ...]:
    """Place one fault per entry of `spec.faults` on an agent it can bite, from the seed alone.

    Window faults land on distinct days (after the first, so every fault has a clean baseline)
    and on the agents with the fewest faults so far, so no execution is hit by two faults and
    its label is unambiguous. A prompt regression starts after any other fault on its agent.
    A fault that cannot fit without overlapping another on its agent is left out.
    """
    rng = np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(spec.seed, spawn_key=(_PLAN_STREAM,)))
    )
    history_start = datetime.combine(spec.start_day, datetime.min.time(), UTC)
    history_end = history_start + timedelta(days=spec.days)
    per_agent: dict[str, list[PlannedFault]] = {p.name: [] for p in spec.profiles}
    days = list(rng.permutation(np.arange(1, spec.days))) if spec.days > 1 else [0]
    planned: list[PlannedFault] = []
    ordered = sorted(spec.faults, key=lambda kind: kind == "prompt_regression")
    for slot, kind in enumerate(ordered):
        candidates = [p for p in spec.profiles if _details(p, kind) is not None]
        if not candidates:
            continue
        fewest = min(len(per_agent[p.name]) for p in candidates)
        candidates = [p for p in candidates if len(per_agent[p.name]) == fewest]
        profile = candidates[int(rng.integers(len(candidates)))]
        details = _details(profile, kind)
        assert details is not None
        if kind == "prompt_regression":
            offset = timedelta(days=spec.days * float(rng.uniform(0.4, 0.7)))
            start = max([history_start + offset] + [f.ended_at for f in per_agent[profile.name]])
            end = history_end
            if start >= end - timedelta(hours=1):
                continue
        else:
            day = int(days[slot % len(days)])
            hour = float(rng.uniform(8.0, 16.0))
            low, high = _DURATION_HOURS[kind]
            start = history_start + timedelta(days=day, hours=hour)
            end = min(start + timedelta(hours=float(rng.uniform(low, high))), history_end)
            if any(f.started_at < end and start < f.ended_at for f in per_agent[profile.name]):
                continue  # a history too short for all the faults asked for
        start = start.replace(microsecond=0)
        fault = PlannedFault(profile.name, kind, start, end.replace(microsecond=0), details)
        per_agent[profile.name].append(fault)
        planned.append(fault)
    return tuple(sorted(planned, key=lambda f: (f.started_at, f.agent)))


@dataclass(frozen=True)
class ToolFault:
    """A tool that fails for everyone calling it inside the window."""

    code: int
    in_window: np.ndarray
    failure: Failure


@dataclass
class FaultExposure:
    """What the faults of one agent do to one chunk of its executions, row by row."""

    # index into FAULT_KINDS of the fault that touched each execution, -1 for none
    label: np.ndarray
    tool_faults: dict[str, ToolFault]
    prompt_version: np.ndarray
    long_context: np.ndarray
    context_step: str | None = None
    loop_extra: np.ndarray | None = None
    loop_step: str | None = None
    regression: Failure | None = None
    regression_step: str | None = None

    @property
    def regressed(self) -> np.ndarray:
        regressed: np.ndarray = self.prompt_version == 2
        return regressed


def expose(
    faults: tuple[PlannedFault, ...], started_us: np.ndarray, rng: np.random.Generator
) -> FaultExposure:
    """Decide, for executions starting at `started_us`, which of the agent's faults reach them."""
    n = started_us.shape[0]
    exposure = FaultExposure(
        label=np.full(n, -1, dtype=np.int8),
        tool_faults={},
        prompt_version=np.ones(n, dtype=np.int8),
        long_context=np.zeros(n, dtype=bool),
    )
    for fault in faults:
        low, high = fault.window_us
        inside = (started_us >= low) & (started_us < high)
        code = FAULT_KINDS.index(fault.kind)
        d = fault.details
        if fault.kind == "tool_timeout_storm":
            failure = Failure(
                d["failure_rate"],
                d["error_type"],
                (f"{d['tool']} timed out after {d['timeout_ms'] // 1000}s",),
                status="timeout",
                duration_ms=float(d["timeout_ms"]),
            )
            exposure.tool_faults[d["tool"]] = ToolFault(code, inside, failure)
        elif fault.kind == "external_api_outage":
            failure = Failure(
                d["failure_rate"],
                d["error_type"],
                (
                    f"HTTP 503 Service Unavailable from {d['host']}",
                    f"{d['host']}: upstream connect error (503)",
                ),
                duration_ms=120.0,
            )
            exposure.tool_faults[d["tool"]] = ToolFault(code, inside, failure)
        elif fault.kind == "context_overflow":
            chosen = inside & (rng.random(n) < d["share"])
            exposure.long_context |= chosen
            exposure.context_step = d["step"]
            exposure.label[chosen] = code
        elif fault.kind == "cost_blowup":
            chosen = inside & (rng.random(n) < d["share"])
            low_calls, high_calls = d["extra_calls"]
            extra = rng.integers(low_calls, high_calls + 1, size=n)
            exposure.loop_extra = np.where(chosen, extra, 0)
            exposure.loop_step = d["step"]
            exposure.label[chosen] = code
        else:
            exposure.prompt_version[inside] = 2
            exposure.regression_step = d["step"]
            exposure.regression = Failure(
                d["extra_failure_rate"],
                d["error_type"],
                (
                    "model output is not valid JSON: expected an object with a 'label' key",
                    "model answered in prose instead of the requested JSON schema",
                ),
                billed=True,
                retryable=False,
            )
            exposure.label[inside] = code
    return exposure
