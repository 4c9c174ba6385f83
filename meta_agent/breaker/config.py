"""A breaker's configuration: the `circuit_breaker_configs` row, checked before it is used.

The defaults are the table's column defaults, so an agent without a row behaves exactly like
an agent whose row was inserted with no values. Limits beyond the table's CHECKs bound what one
breaker may hold in Redis (the window ring and the probe slots).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from meta_agent.errors import MetaAgentError

MAX_COUNT_WINDOW_CALLS = 10_000
MAX_TIME_WINDOW_SECONDS = 3_600
MAX_PROBES = 100
MAX_DURATION_MS = 7 * 24 * 3_600_000


class BreakerConfigError(MetaAgentError):
    """A configuration a breaker cannot run on; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid circuit breaker config: " + "; ".join(problems))
        self.problems = problems


class WindowKind(StrEnum):
    COUNT = "count"
    TIME = "time"


@dataclass(frozen=True)
class BreakerConfig:
    """How one agent's breaker decides. `window_size` counts calls (COUNT) or seconds (TIME)."""

    enabled: bool = True
    window_kind: WindowKind = WindowKind.COUNT
    window_size: int = 100
    # the rates are judged against max(calls in window, min_calls): below min_calls the failures
    # alone must reach threshold × min_calls, so low traffic opens on absolute failure counts
    min_calls: int = 20
    failure_rate_threshold: float = 0.5
    slow_call_duration_ms: int = 60_000
    slow_call_rate_threshold: float = 1.0
    # None switches the consecutive-failure trigger off
    consecutive_failures_threshold: int | None = None
    open_duration_ms: int = 30_000
    backoff_multiplier: float = 2.0
    max_open_duration_ms: int = 600_000
    half_open_permitted_probes: int = 3
    # a probe that has not reported this long after it was admitted counts as failed
    half_open_deadline_ms: int = 30_000

    def __post_init__(self) -> None:
        problems: list[str] = []
        try:
            object.__setattr__(self, "window_kind", WindowKind(self.window_kind))
        except ValueError:
            problems.append(f"window_kind must be count or time, got {self.window_kind!r}")
        # ints from JSON or the database become the floats Lua will be given
        for name in ("failure_rate_threshold", "slow_call_rate_threshold", "backoff_multiplier"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        problems += [] if problems else _problems(self)
        if problems:
            raise BreakerConfigError(problems)

    @property
    def window_shape(self) -> str:
        """Identifies the window layout; a stored window of another shape is discarded."""
        return f"{self.window_kind.value}:{self.window_size}"

    def open_duration_for(self, consecutive_opens: int) -> int:
        """Milliseconds the breaker stays open on its `consecutive_opens`-th open in a row.

        Multiplied step by step (not with `**`) so that Lua, which must give the same number,
        does the same IEEE operations.
        """
        duration = float(self.open_duration_ms)
        cap = float(self.max_open_duration_ms)
        for _ in range(consecutive_opens - 1):
            if duration >= cap or self.backoff_multiplier == 1.0:
                break
            duration = min(cap, duration * self.backoff_multiplier)
        return math.floor(duration)

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | None) -> BreakerConfig:
        """The config of a `circuit_breaker_configs` row (extra columns ignored); None: defaults."""
        if row is None:
            return cls()
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_rate(value: object) -> bool:
    return isinstance(value, float) and 0 < value <= 1


def _problems(c: BreakerConfig) -> list[str]:
    problems: list[str] = []

    def need_int(name: str, low: int, high: int) -> None:
        value = getattr(c, name)
        if not _is_int(value) or not low <= value <= high:
            problems.append(f"{name} must be an integer from {low} to {high}, got {value!r}")

    if not isinstance(c.enabled, bool):
        problems.append(f"enabled must be true or false, got {c.enabled!r}")
    limit = MAX_COUNT_WINDOW_CALLS if c.window_kind is WindowKind.COUNT else MAX_TIME_WINDOW_SECONDS
    need_int("window_size", 1, limit)
    need_int("min_calls", 1, 1_000_000)
    if (
        c.window_kind is WindowKind.COUNT
        and _is_int(c.min_calls)
        and _is_int(c.window_size)
        and c.min_calls > c.window_size
    ):
        problems.append(
            f"min_calls ({c.min_calls}) cannot exceed a count window's size ({c.window_size})"
        )
    for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
        if not _is_rate(getattr(c, name)):
            problems.append(f"{name} must be above 0 and at most 1, got {getattr(c, name)!r}")
    need_int("slow_call_duration_ms", 1, MAX_DURATION_MS)
    if c.consecutive_failures_threshold is not None:
        need_int("consecutive_failures_threshold", 1, 1_000_000)
    need_int("open_duration_ms", 1, MAX_DURATION_MS)
    need_int("max_open_duration_ms", 1, MAX_DURATION_MS)
    if (
        _is_int(c.open_duration_ms)
        and _is_int(c.max_open_duration_ms)
        and c.max_open_duration_ms < c.open_duration_ms
    ):
        problems.append("max_open_duration_ms cannot be below open_duration_ms")
    multiplier = c.backoff_multiplier
    if not isinstance(multiplier, float) or not 1 <= multiplier <= 100:
        problems.append(f"backoff_multiplier must be from 1 to 100, got {multiplier!r}")
    need_int("half_open_permitted_probes", 1, MAX_PROBES)
    need_int("half_open_deadline_ms", 1, MAX_DURATION_MS)
    return problems
