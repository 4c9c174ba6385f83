"""When executions happen: how many per agent and day, at what time of day, in which session."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from meta_agent.simulate.fleet import FleetSpec, agent_key
from meta_agent.simulate.profiles import AgentProfile

DAY_US = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Relative load per UTC hour: quiet nights, a European morning, a peak where Europe and the
# US overlap, a long American afternoon.
_HOURLY_WEIGHT = np.array(
    [0.25, 0.2, 0.18, 0.18, 0.2, 0.3, 0.5, 0.8, 1.2, 1.5, 1.6, 1.6,
     1.5, 1.6, 1.7, 1.7, 1.6, 1.4, 1.1, 0.9, 0.7, 0.55, 0.4, 0.3]
)  # fmt: skip
_HOUR_P = _HOURLY_WEIGHT / _HOURLY_WEIGHT.sum()
# People work on weekdays; these average to 1.0 over a week, so `executions_per_day` holds.
_WEEKDAY_FACTOR = 1.18
_WEEKEND_FACTOR = 0.55
# Mean pause between two executions of one session: a person reads the answer and replies.
_THINK_TIME_US = 40_000_000.0
_COUNT_STREAM, _BODY_STREAM = 0, 1


def day_start_us(day: date) -> int:
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY_US


def chunk_rng(
    spec: FleetSpec, profile: AgentProfile, day: date, stream: int
) -> np.random.Generator:
    """The random stream of one (agent, day): any chunk can be rebuilt without the others."""
    key = (agent_key(profile), day.toordinal(), stream)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(spec.seed, spawn_key=key)))


def executions_on(spec: FleetSpec, profile: AgentProfile, day: date) -> int:
    """How many executions the agent starts on `day`; cheap, so loaders can size their work."""
    expected = spec.executions_per_day * spec.share(profile)
    if not profile.scheduled:
        expected *= _WEEKEND_FACTOR if day.weekday() >= 5 else _WEEKDAY_FACTOR
    noise = chunk_rng(spec, profile, day, _COUNT_STREAM).normal(0.0, 0.04)
    return round(expected * math.exp(noise))


def expected_executions(spec: FleetSpec) -> int:
    """The exact number of executions the fleet will have, without generating it."""
    return sum(executions_on(spec, p, day) for day in spec.day_list for p in spec.profiles)


@dataclass(frozen=True)
class Arrivals:
    """Start times (µs since the epoch, ascending) and each execution's session, if any."""

    started_us: npt.NDArray[np.int64]
    session: npt.NDArray[np.int64] | None
    session_keys: npt.NDArray[np.uint8] | None


def _time_of_day_us(rng: np.random.Generator, size: int) -> npt.NDArray[np.int64]:
    hours = rng.choice(24, size=size, p=_HOUR_P)
    within = rng.integers(0, 3_600_000_000, size=size)
    return (hours * 3_600_000_000 + within).astype(np.int64)


def _session_lengths(rng: np.random.Generator, n: int, mean: float) -> npt.NDArray[np.int64]:
    lengths = rng.geometric(1.0 / mean, size=int(n / mean * 1.3) + 16)
    while lengths.sum() < n:
        lengths = np.concatenate([lengths, rng.geometric(1.0 / mean, size=16)])
    total = np.cumsum(lengths)
    last = int(np.searchsorted(total, n))
    lengths = lengths[: last + 1].copy()
    lengths[last] -= int(total[last]) - n
    return lengths.astype(np.int64)


def arrivals(profile: AgentProfile, day: date, n: int, rng: np.random.Generator) -> Arrivals:
    start = day_start_us(day)
    if profile.scheduled:
        # a cron trigger: evenly spaced runs, a little scheduler jitter
        spacing = DAY_US / max(n, 1)
        planned = (np.arange(n) + 0.5) * spacing + rng.normal(0.0, 1_500_000.0, size=n)
        offsets = np.clip(planned, 0, DAY_US - 1).astype(np.int64)
        return Arrivals(np.sort(offsets) + start, None, None)
    if profile.session_executions is None:
        return Arrivals(np.sort(_time_of_day_us(rng, n)) + start, None, None)
    lengths = _session_lengths(rng, n, profile.session_executions)
    first = _time_of_day_us(rng, lengths.shape[0])
    session = np.repeat(np.arange(lengths.shape[0]), lengths)
    gaps = rng.exponential(_THINK_TIME_US, size=n)
    session_starts = np.cumsum(lengths) - lengths
    gaps[session_starts[lengths > 0]] = 0.0
    elapsed = np.cumsum(gaps)
    offsets = (first[session] + elapsed - elapsed[session_starts[session]]).astype(np.int64)
    # a session that runs past midnight is folded back into the day it belongs to
    offsets = np.where(offsets >= DAY_US, 2 * DAY_US - 1 - offsets, offsets)
    offsets = np.maximum(offsets, 0)
    order = np.argsort(offsets, kind="stable")
    keys = rng.integers(0, 256, size=(lengths.shape[0], 8), dtype=np.uint8)
    return Arrivals(offsets[order] + start, session[order], keys)
