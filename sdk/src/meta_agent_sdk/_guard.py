"""Circuit enforcement on the caller's path: decided from the cache, never over the network.

`admit(agent)` is what `with logger.execution()` asks before its block runs:
- closed, forced_closed, unknown (nothing reported yet, or a state this SDK does not know):
  run. So does any state not confirmed for `UNCONFIRMED_S` (the server has been unreachable
  that long): a MetaAgent outage must not keep an agent refused for good.
- open until `retry_after_s` has passed since the report arrived, and forced_open: refuse.
- half_open, or open past its retry time: run only as a probe, with a permit the refresher
  fetched beforehand; each permit is taken by exactly one execution (under a lock). Without
  one: refuse, and record the demand, which tells the refresher to fetch a permit.

A refused execution raises `CircuitOpenError` (a decorated function may return its fallback
instead); it did not run and nothing is logged for it. The closed path takes no lock: a clock
read, two dictionary reads and a dictionary write.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable, NamedTuple, NoReturn

from meta_agent_sdk._circuits import (
    FORCED_OPEN,
    HALF_OPEN,
    OPEN,
    CircuitCache,
    CircuitOpenError,
    Entry,
)

if TYPE_CHECKING:
    from meta_agent_sdk._refresher import Refresher

PROBE_RETRY_S = 1.0  # what a refusal for want of a permit suggests: the refresher's cadence
UNCONFIRMED_S = 300.0
GUARDED = frozenset({OPEN, FORCED_OPEN, HALF_OPEN})


class Permit(NamedTuple):
    """Leave from the server to run one execution (a half-open probe, usually)."""

    token: str
    kind: str
    deadline_ms: int | None  # Unix time in ms; None: no deadline


class CircuitGuard:
    """Admission, held permits, demand and counters of one logger in one process."""

    def __init__(
        self,
        cache: CircuitCache,
        enabled: bool,
        make_refresher: Callable[[CircuitGuard], Refresher],
    ) -> None:
        self.cache = cache
        self.enabled = enabled
        self.closed = False
        self.wall: Callable[[], float] = time.time  # permit deadlines are Unix time
        self._make_refresher = make_refresher
        self.fresh()

    def fresh(self) -> None:
        """Permits, demand, counters and signals of this process (again in a forked child).

        A child never inherits the parent's permits: one token must serve one execution.
        """
        self._lock = threading.Lock()
        self._permits: dict[str, Permit] = {}
        self._demand: set[str] = set()
        self.last_used: dict[str, float] = {}
        self.wake = threading.Event()
        self.refresher: Refresher | None = None
        self.refused = 0
        self.probes = 0
        self.permits_expired = 0

    # --- the caller's path -------------------------------------------------------------

    def admit(self, agent: str) -> Permit | None:
        """None: run normally; a permit: run as its probe; raises CircuitOpenError: refused."""
        now = self.cache.clock()
        self.last_used[agent] = now
        if self.refresher is None:
            self._start_refresher()
        entry = self.cache.entry(agent)
        if entry is None or not self._guarded(entry, now):
            # A permit still held (the breaker closed meanwhile): hand it back with this run.
            return self._take(agent) if self._permits else None
        circuit = entry.circuit
        state = circuit.state
        if state == FORCED_OPEN:
            self._refuse(agent, state, circuit.retry_after_s)
        if state == OPEN:
            retry = circuit.retry_after_s
            if retry is None:
                self._refuse(agent, state, None)
            left = entry.received_at + retry - now
            if left > 0:
                self._refuse(agent, state, left)
        permit = self._take(agent)
        if permit is None:
            self._refuse(agent, state, PROBE_RETRY_S)
        return permit

    def _start_refresher(self) -> None:
        with self._lock:
            if self.refresher is not None or self.closed:
                return
            refresher = self._make_refresher(self)
            try:
                refresher.thread.start()
            except RuntimeError:  # interpreter shutting down
                return
            self.refresher = refresher

    def _guarded(self, entry: Entry, now: float) -> bool:
        return entry.circuit.state in GUARDED and now - entry.received_at < UNCONFIRMED_S

    def _take(self, agent: str) -> Permit | None:
        with self._lock:
            permit = self._permits.pop(agent, None)
            if permit is None:
                return None
            if self._expired(permit):
                self.permits_expired += 1
                return None
            self.probes += 1
            return permit

    def _refuse(self, agent: str, state: str, retry_after_s: float | None) -> NoReturn:
        with self._lock:
            self.refused += 1
            new = agent not in self._demand
            self._demand.add(agent)
        if new:
            self.wake.set()
        raise CircuitOpenError(agent, state, retry_after_s)

    def _expired(self, permit: Permit) -> bool:
        return permit.deadline_ms is not None and self.wall() * 1000.0 >= permit.deadline_ms

    # --- for the refresher ---------------------------------------------------------------

    def wants_permit(self, agent: str, now: float) -> bool:
        """Refused since the last permit was used, none held, and the breaker may admit one."""
        if agent not in self._demand:
            return False
        entry = self.cache.entry(agent)
        if entry is None or entry.circuit.state not in GUARDED:
            with self._lock:  # nothing to fetch a permit for: the demand is answered
                self._demand.discard(agent)
            return False
        circuit = entry.circuit
        if agent in self._permits or circuit.state == FORCED_OPEN:
            return False
        if circuit.state == OPEN:
            retry = circuit.retry_after_s
            return retry is not None and now >= entry.received_at + retry
        return True

    def hold(self, agent: str, permit: Permit) -> None:
        """Keep an admitted permit for the next execution of `agent`; the demand is answered."""
        with self._lock:
            if self._expired(permit):
                self.permits_expired += 1
            else:
                self._permits[agent] = permit
            self._demand.discard(agent)

    def discard_expired(self) -> None:
        """Drop held permits past their deadline (the server counts them as failed probes)."""
        if not self._permits:
            return
        with self._lock:
            for agent, permit in list(self._permits.items()):
                if self._expired(permit):
                    del self._permits[agent]
                    self.permits_expired += 1

    def held(self, agent: str) -> Permit | None:
        """The permit held for `agent`, if any (not taken)."""
        return self._permits.get(agent)

    # --- lifecycle -----------------------------------------------------------------------

    def stop(self, timeout: float) -> None:
        """Stop enforcing (nothing refreshes the state any more) and stop the refresher."""
        with self._lock:
            self.closed = True
            self.enabled = False
            refresher = self.refresher
        if refresher is not None:
            refresher.stop_requested = True
            self.wake.set()
            refresher.thread.join(max(0.0, timeout))
