"""Delivery counters, as `AgentLogger.stats()` reports them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stats:
    """Where every logged item (execution or action) is.

    At rest, `logged + adopted == queued + sent + spooled + dropped`: an item is in memory, was
    acknowledged by the server, waits in the spool, or was dropped for a counted reason.
    `adopted` counts items taken over from the spools of dead processes.
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
