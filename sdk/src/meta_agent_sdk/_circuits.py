"""The breaker state last reported by the server, cached for the realtime enforcement to come.

Every ingest response carries `circuits` (per agent: state and retry_after_s) and
`routing_version`. The worker stores them here; nothing is enforced yet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CircuitState:
    """An agent's circuit as of the last ingest response (`state` "unknown" before any)."""

    agent: str
    state: str = "unknown"
    retry_after_s: float | None = None
    routing_version: int | None = None
    updated_at: float | None = None


class CircuitCache:
    """Agent → last reported circuit; replaced whole on update, so reads need no lock."""

    def __init__(self) -> None:
        self._circuits: Mapping[str, CircuitState] = {}
        self.routing_version: int | None = None
        self.updated_at: float | None = None

    def update(self, body: Mapping[str, Any]) -> None:
        """Take `circuits` and `routing_version` from an ingest response body."""
        now = time.time()
        version = body.get("routing_version")
        if isinstance(version, int) and not isinstance(version, bool):
            self.routing_version = version
        circuits = body.get("circuits")
        if isinstance(circuits, Mapping):
            merged = dict(self._circuits)
            for agent, info in circuits.items():
                if not isinstance(agent, str) or not isinstance(info, Mapping):
                    continue
                state = info.get("state")
                retry = info.get("retry_after_s")
                merged[agent] = CircuitState(
                    agent=agent,
                    state=state if isinstance(state, str) else "unknown",
                    retry_after_s=float(retry) if isinstance(retry, (int, float)) else None,
                    routing_version=self.routing_version,
                    updated_at=now,
                )
            self._circuits = merged
        self.updated_at = now

    def get(self, agent: str) -> CircuitState:
        """The agent's last reported circuit."""
        found = self._circuits.get(agent)
        if found is None:
            return CircuitState(agent=agent, routing_version=self.routing_version)
        return found

    def snapshot(self) -> dict[str, CircuitState]:
        """All circuits reported so far."""
        return dict(self._circuits)
