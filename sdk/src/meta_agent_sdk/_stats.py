"""Delivery and circuit counters, as `AgentLogger.stats()` reports them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meta_agent_sdk._buffer import Discard

if TYPE_CHECKING:
    from meta_agent_sdk._logger import AgentLogger


@dataclass(frozen=True)
class Stats:
    """Where every logged item (execution or action) is.

    At rest, `logged + adopted == queued + sent + spooled + dropped`: an item is in memory, was
    acknowledged by the server, waits in the spool, or was dropped for a counted reason.
    `adopted` counts items taken over from the spools of dead processes.

    Circuit enforcement: `refused` executions did not run (their breaker was open) and are not
    logged; `probes` ran with a breaker permit; `permits_expired` were fetched but their
    deadline passed before an execution took them; `circuit_requests` went to /v1/circuits.
    """

    logged: int
    queued: int
    sent: int
    spooled: int
    dropped: int
    retried: int
    adopted: int = 0
    requests: int = 0
    torn_records: int = 0
    spool_bytes: int = 0
    dropped_by_reason: Mapping[str, int] = field(default_factory=dict)
    last_error: str | None = None
    refused: int = 0
    probes: int = 0
    permits_expired: int = 0
    circuit_requests: int = 0


def collect(logger: AgentLogger) -> Stats:
    """A consistent snapshot of one logger's counters."""
    guard = logger._guard
    refresher = guard.refresher
    circuit: dict[str, Any] = {
        "refused": guard.refused,
        "probes": guard.probes,
        "permits_expired": guard.permits_expired,
        "circuit_requests": refresher.requests if refresher is not None else 0,
    }
    worker = logger._worker
    pending = len(logger._deque)
    late = logger._queue.count if isinstance(logger._queue, Discard) else 0
    if worker is None:
        dropped = {"after_shutdown": late} if late else {}
        return Stats(pending + late, pending, 0, 0, late, 0, dropped_by_reason=dropped, **circuit)
    # A consistent snapshot: the worker holds this lock while it moves items between
    # states, and never during network I/O, so the wait is short (and bounded anyway).
    locked = worker._lock.acquire(timeout=0.1)
    try:
        spool = worker.spool
        pending = len(logger._deque)
        dropped = dict(worker.dropped)
        if late:
            dropped["after_shutdown"] = late
        if spool is not None and spool.corrupt_items:
            dropped["spool_corrupt"] = dropped.get("spool_corrupt", 0) + spool.corrupt_items
        return Stats(
            logged=worker.drained + pending + late,
            queued=pending + worker.in_memory(),
            sent=worker.sent,
            spooled=spool.pending_items if spool is not None else 0,
            dropped=sum(dropped.values()),
            retried=worker.retried,
            adopted=spool.adopted_items if spool is not None else 0,
            requests=worker.requests,
            torn_records=spool.torn_records if spool is not None else 0,
            spool_bytes=spool.bytes if spool is not None else 0,
            dropped_by_reason=dropped,
            last_error=worker.last_error,
            **circuit,
        )
    finally:
        if locked:
            worker._lock.release()
