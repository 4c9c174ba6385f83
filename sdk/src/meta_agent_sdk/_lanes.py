"""Lanes: up to `max_concurrent_requests` batches in flight at once, one connection each.

With one request at a time the pipeline is serial: the worker encodes a batch, then waits
while the server parses and stores it, then encodes the next. Each lane is a thread with its
own kept-alive connection (behind a multi-process server, often its own server process), so
the worker encodes the next batch while earlier ones are stored. The worker hands a batch to
the lanes only when one is free, which is the backpressure on it.

The server is idempotent by event id and files every item by its own timestamps, so batches
may arrive in any order. Everything that is not a healthy live send (spool replay, retries
from memory) stays on the worker's own connection, one request at a time, in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from meta_agent_sdk._batch import Batch
from meta_agent_sdk._transport import Transport


class Lanes:
    """`n` daemon threads that each take a batch and run `send(batch, transport)`."""

    def __init__(
        self,
        n: int,
        new_transport: Callable[[], Transport],
        send: Callable[[Batch, Transport], None],
    ) -> None:
        self._queue: queue.SimpleQueue[Batch | None] = queue.SimpleQueue()
        self._send = send
        self._threads = [
            threading.Thread(
                target=self._run, args=(new_transport(),), name=f"metaagent-lane-{i}", daemon=True
            )
            for i in range(n)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, batch: Batch) -> None:
        """Send `batch` on the next free lane (the caller has checked that one is free)."""
        self._queue.put(batch)

    def stop(self) -> None:
        """Let each lane finish its request and close its connection; does not wait."""
        for _ in self._threads:
            self._queue.put(None)

    def _run(self, transport: Transport) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                self._send(batch, transport)
        finally:
            transport.close()
