"""The breaker state last reported by the server, and the error a refused execution raises.

Every ingest response carries `circuits` (per agent: state and retry_after_s) and
`routing_version`; so do the answers of `GET /v1/circuits` and `POST /v1/circuits/{agent}/permits`
that the refresher (`_refresher.py`) asks in the background. They are all stored here, each with
the moment it arrived on the cache's monotonic clock, so that "open for 30 s more" is measured
from when the server said it. The guard (`_guard.py`) enforces them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

# The SDK puts the token of the permit an execution ran with in its metadata under this key;
# the server hands it back to the breaker with the execution's outcome.
PERMIT_METADATA_KEY = "metaagent.circuit_permit"

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
FORCED_OPEN, FORCED_CLOSED = "forced_open", "forced_closed"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class CircuitState:
    """An agent's circuit as the server last reported it (`state` "unknown" before any).

    `state` is closed, open, half_open, forced_open or forced_closed; `retry_after_s` is how
    long an open circuit stays open, counted from `updated_at` (Unix time of the report).
    """

    agent: str
    state: str = UNKNOWN
    retry_after_s: float | None = None
    routing_version: int | None = None
    updated_at: float | None = None


class Entry(NamedTuple):
    """A cached circuit and when it arrived, on the cache's monotonic clock."""

    circuit: CircuitState
    received_at: float


class CircuitOpenError(RuntimeError):
    """An execution was refused because the agent's circuit breaker does not admit it.

    Raised by `with logger.execution(...)` (sync and async) and by a decorated function
    without a fallback. `state` is the cached state (open, forced_open or half_open);
    `retry_after_s` is when trying again may be admitted (None: not known, e.g. forced open).
    The execution did not run and is not logged; `stats().refused` counts it.
    """

    def __init__(self, agent: str, state: str, retry_after_s: float | None) -> None:
        when = "" if retry_after_s is None else f"; retry in {retry_after_s:.3g} s"
        super().__init__(f"circuit of agent {agent!r} is {state}: execution refused{when}")
        self.agent = agent
        self.state = state
        self.retry_after_s = retry_after_s

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.agent, self.state, self.retry_after_s))


def _retry(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0.0, float(value))
    return None


class CircuitCache:
    """Agent → last reported circuit; replaced whole on update, so reads need no lock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: Mapping[str, Entry] = {}
        self._write = threading.Lock()  # the worker and the refresher both update
        self.routing_version: int | None = None
        self.updated_at: float | None = None

    def update(self, body: Mapping[str, Any]) -> None:
        """Take `circuits` and `routing_version` from a response body (ingest or circuits)."""
        with self._write:
            received = self.clock()
            now = time.time()
            version = body.get("routing_version")
            if isinstance(version, int) and not isinstance(version, bool):
                self.routing_version = version
            circuits = body.get("circuits")
            if isinstance(circuits, Mapping):
                merged = dict(self._entries)
                for agent, info in circuits.items():
                    if not isinstance(agent, str) or not isinstance(info, Mapping):
                        continue
                    state = info.get("state")
                    circuit = CircuitState(
                        agent=agent,
                        state=state if isinstance(state, str) else UNKNOWN,
                        retry_after_s=_retry(info.get("retry_after_s")),
                        routing_version=self.routing_version,
                        updated_at=now,
                    )
                    merged[agent] = Entry(circuit, received)
                self._entries = merged
            self.updated_at = now

    def after_fork(self) -> None:
        """In a forked child: a fresh write lock (the parent's may have been held)."""
        self._write = threading.Lock()

    def update_one(self, agent: str, circuit: object) -> None:
        """Take one agent's `{"state", "retry_after_s"}` (from a permit answer)."""
        if isinstance(circuit, Mapping):
            self.update({"circuits": {agent: circuit}})

    def entry(self, agent: str) -> Entry | None:
        """The agent's cached circuit with its arrival time, None before any report."""
        return self._entries.get(agent)

    def get(self, agent: str) -> CircuitState:
        """The agent's last reported circuit."""
        found = self._entries.get(agent)
        if found is None:
            return CircuitState(agent=agent, routing_version=self.routing_version)
        return found.circuit

    def snapshot(self) -> dict[str, CircuitState]:
        """All circuits reported so far."""
        return {agent: e.circuit for agent, e in self._entries.items()}
