"""How long the worker's cycles take, by phase, published for operators and benchmarks.

A cycle is one `Worker.handle`: a batch's windows, breakers, health and alerts. An execution
waits for the cycle in hand to end and then for its own, so the cycle's length is most of how
long a transition takes to show. The worker keeps the cycles since it last published and
every `every_s` writes their count and percentiles, as JSON, to a key per consumer
(`metaagent:realtime:cycles:<consumer>`, kept a minute), readable by another process without
a profiler (`bench.realtime` reports them).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import redis.asyncio as aioredis

KEY_PREFIX = "metaagent:realtime:cycles:"
# windows: from the batch read to its windows applied (parsing and profiles included);
# breakers: the breakers, and the acknowledgement; health; alerts; total: the whole cycle
PHASES = ("windows", "breakers", "health", "alerts", "total")
KEEP_MS = 60_000


class CycleTimer:
    """The phases of one cycle, each timed from the end of the one before."""

    def __init__(self) -> None:
        self.started = self._last = time.perf_counter()
        self.phases: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = (now - self._last) * 1000
        self._last = now

    def finish(self) -> dict[str, float]:
        self.phases["total"] = (time.perf_counter() - self.started) * 1000
        return self.phases


class CycleStats:
    """A worker's cycles since it last published."""

    def __init__(self, consumer: str, *, every_s: float = 5.0) -> None:
        self.key = KEY_PREFIX + consumer
        self.every_s = every_s
        self._published_at = time.monotonic()
        self._start_over()

    def _start_over(self) -> None:
        self._entries: list[int] = []
        self._phases: dict[str, list[float]] = {p: [] for p in PHASES}

    def add(self, entries: int, phases: dict[str, float]) -> None:
        self._entries.append(entries)
        for phase in PHASES:
            self._phases[phase].append(phases.get(phase, 0.0))

    def summary(self) -> dict[str, Any]:
        """The cycles' count, median entries, and each phase's p50 and p90 (ms)."""
        out: dict[str, Any] = {"cycles": len(self._entries)}
        if self._entries:
            out["entries_p50"] = float(np.median(self._entries))
            for phase, times in self._phases.items():
                p50, p90 = np.percentile(times, [50, 90])
                out[f"{phase}_ms_p50"], out[f"{phase}_ms_p90"] = round(p50, 1), round(p90, 1)
        return out

    async def publish_if_due(self, client: aioredis.Redis, *, force: bool = False) -> None:
        """Write the summary (and start over) once `every_s` has passed since the last."""
        if not force and time.monotonic() - self._published_at < self.every_s:
            return
        self._published_at = time.monotonic()
        if not self._entries:
            return
        summary = self.summary()
        self._start_over()
        await client.set(self.key, json.dumps(summary), px=KEEP_MS)


async def read_cycles(client: aioredis.Redis) -> dict[str, dict[str, Any]]:
    """Every worker's last published summary, by consumer name."""
    found = {}
    async for key in client.scan_iter(match=KEY_PREFIX + "*"):
        raw = await client.get(key)
        if raw is not None:
            name = key.decode() if isinstance(key, bytes) else str(key)
            found[name[len(KEY_PREFIX) :]] = json.loads(raw)
    return found
