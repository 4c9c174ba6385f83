"""Per-agent values read from Postgres and kept `ttl_s` (health profiles, breaker
configurations). A batch asks for a few hundred agents at once: a value still fresh must cost
a dict lookup, not a task; only the misses go to Postgres, a few at a time."""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from realtime.bounded import gather_bounded

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Subclasses load a missing or stale value in `get` and `keep` it."""

    def __init__(self, *, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[K, tuple[float, V]] = {}

    def _fresh(self, entry: tuple[float, V], now: float) -> bool:
        return now - entry[0] < self.ttl_s

    def cached(self, key: K) -> tuple[bool, V | None]:
        """Whether a fresh value is kept, and the value kept (fresh or stale; None: none)."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        return self._fresh(entry, time.monotonic()), entry[1]

    def keep(self, key: K, value: V) -> V:
        self._entries[key] = (time.monotonic(), value)
        return value

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    async def get(self, key: K) -> V:
        raise NotImplementedError

    async def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        wanted = list(dict.fromkeys(keys))
        now = time.monotonic()
        found: dict[K, V] = {}
        missing: list[K] = []
        for key in wanted:
            entry = self._entries.get(key)
            if entry is not None and self._fresh(entry, now):
                found[key] = entry[1]
            else:
                missing.append(key)
        if not missing:
            return found
        # a miss takes a Postgres connection; the pool is small
        found.update(zip(missing, await gather_bounded(4, missing, self.get), strict=True))
        return {key: found[key] for key in wanted}
