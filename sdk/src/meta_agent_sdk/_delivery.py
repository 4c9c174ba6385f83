"""Routing and sending batches: the half of the worker that talks to the server and the spool.

Routing a batch:
- server healthy, spool empty, buffer below `max_buffer_items`: send it now (on a lane,
  `_lanes.py`, once the server has answered: up to `max_concurrent_requests` at once);
- otherwise (backing off after a failure, spool backlog, or a full buffer): append it to the
  spool, so that the spool replays in order; if the spool is full or unusable, send it anyway
  while the server is not known to be down, else keep it in memory (up to `max_buffer_items`
  items) to retry; only beyond that is it dropped, and counted.

A retryable failure (network, timeout, 408/429/5xx) spools the batch and backs off
exponentially with jitter (429: exactly `Retry-After`, at least); the spool's head is the probe.
413 splits a batch in halves, recursively; 401/403/422 and other 4xx drop it with a reason.

The state lock is held by the worker while it works and released around each HTTP request,
so `shutdown()` can take what is in memory and spool it even while a request hangs.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from meta_agent_sdk._batch import Batch
from meta_agent_sdk._lanes import Lanes
from meta_agent_sdk._spool import Spool
from meta_agent_sdk._transport import DROP_REASONS, Reply, Transport

if TYPE_CHECKING:
    from meta_agent_sdk._config import Settings
    from meta_agent_sdk._logger import AgentLogger

log = logging.getLogger("meta_agent_sdk")

REPLAY_PER_CYCLE = 16  # spool records per loop, so that fresh items are not starved
MAX_RETRY_AFTER_S = 600.0


class Rescued(Exception):
    """shutdown() took over while a request was in flight: stop without touching anything."""


class Delivery:
    """Sending, spooling, retrying and counting, for one logger in one process."""

    def __init__(self, logger: AgentLogger) -> None:
        self._lg = logger
        self._s: Settings = logger._settings
        self._transport = logger._new_transport()
        self.spool: Spool | None = None
        self._lock = threading.Lock()
        # batches sent and not yet answered: one at a time, or one per lane (`_lanes.py`)
        self._inflight: list[Batch] = []
        self._lanes: Lanes | None = None
        self._awaiting_lane: Batch | None = None
        # Lanes only while the last answer was a success: a server down from the start, or
        # since a failure, gets one request at a time, so batches reach the spool in order.
        self._server_up = False
        self._settled = threading.Condition(self._lock)
        # Batches to retry from memory: only those the spool could not take (full or
        # unusable), at most max_buffer_items items; beyond that they are dropped and counted.
        self._retry: deque[Batch] = deque()
        self._retry_items = 0
        self._failures = 0
        self._backoff_until = 0.0
        self._warned: set[str] = set()
        self.stop_requested = False
        self.rescued = False
        self._replayable = True
        self.sent = 0
        self.retried = 0
        self.requests = 0
        self.dropped: dict[str, int] = {}
        self.last_error: str | None = None

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def _drop(self, n: int, reason: str, detail: str | None = None) -> None:
        if n <= 0:
            return
        self.dropped[reason] = self.dropped.get(reason, 0) + n
        self._warn_once(
            "drop:" + reason,
            "metaagent: dropped %d item(s) for %s%s (logged once per reason; see stats())",
            n,
            reason,
            f": {detail}" if detail else "",
        )

    # --- routing and sending ---------------------------------------------------------

    def _route(self, batch: Batch) -> None:
        waiting = self._failures > 0 and time.monotonic() < self._backoff_until
        backlog = self.spool is not None and self.spool.pending_items > 0
        overflow = len(self._lg._deque) > self._s.max_buffer_items
        if waiting or backlog or overflow or self._failures > 0:
            reason = self._spool_append(batch)
            if reason is None:
                return
            if waiting:  # the server is down and the spool cannot take it
                self._hold(batch, reason)
                return
        self._deliver(batch)

    def _hold(self, batch: Batch, reason: str) -> None:
        if self._retry_items + len(batch) > self._s.max_buffer_items:
            self._drop(len(batch), reason)
            return
        self._retry.append(batch)
        self._retry_items += len(batch)

    def _spool_append(self, batch: Batch) -> str | None:
        if self.spool is None:
            return "spool_unavailable"
        return self.spool.append(batch.compressed(), len(batch))

    def _deliver(self, batch: Batch) -> None:
        lanes = self._s.max_concurrent_requests
        if lanes > 1 and self._server_up:
            self._deliver_on_lane(batch, lanes)
            return
        self._inflight.append(batch)
        unresolved, retry_after, error = self._send(batch)
        self._inflight.remove(batch)
        self._settle(unresolved, retry_after, error)

    def _deliver_on_lane(self, batch: Batch, lanes: int) -> None:
        self._awaiting_lane = batch  # where shutdown's rescue finds it meanwhile
        while len(self._inflight) >= lanes:
            self._settled.wait()  # releases the state lock until a lane answers
            if self.rescued:
                raise Rescued
        self._awaiting_lane = None
        if self._lanes is None:
            self._lanes = Lanes(lanes, self._lg._new_transport, self._send_on_lane)
        self._inflight.append(batch)
        self._lanes.submit(batch)

    def _send_on_lane(self, batch: Batch, transport: Transport) -> None:
        """On a lane's thread: send `batch` and settle its outcome under the state lock."""
        with self._lock:
            if self.rescued:  # shutdown() spooled it
                return
            try:
                unresolved, retry_after, error = self._send(batch, transport)
            except Rescued:
                return
            except Exception as exc:  # keep the batch: the spool takes it, the server dedups
                log.exception("metaagent: lane error (the batch is kept)")
                unresolved, retry_after, error = [batch], None, f"{type(exc).__name__}: {exc}"
            self._inflight.remove(batch)
            self._settle(unresolved, retry_after, error)
            self._settled.notify_all()

    def _await_lanes(self) -> None:
        """Until every batch in flight has its answer (each request has its timeout)."""
        while self._inflight and not self.rescued:
            self._settled.wait()
        if self.rescued:
            raise Rescued

    def _stop_lanes(self) -> None:
        if self._lanes is not None:
            self._lanes.stop()
            self._lanes = None

    def _settle(
        self, unresolved: list[Batch], retry_after: float | None, error: str | None
    ) -> None:
        for part in unresolved:
            reason = self._spool_append(part)
            if reason is not None:
                self._hold(part, reason)
        if unresolved:
            self._failed(retry_after, error)
        else:
            self._failures = 0

    def _resend_retries(self) -> None:
        while self._retry and not self.stop_requested:
            if self._failures and time.monotonic() < self._backoff_until:
                return
            batch = self._retry.popleft()
            self._retry_items -= len(batch)
            self._inflight.append(batch)
            unresolved, retry_after, error = self._send(batch)
            self._inflight.remove(batch)
            if unresolved:
                for part in reversed(unresolved):
                    self._retry.appendleft(part)
                    self._retry_items += len(part)
                self._failed(retry_after, error)
                return
            self._failures = 0

    def _park_retries(self) -> None:
        """At shutdown: what waits in memory goes to the spool, or is dropped and counted."""
        while self._retry:
            batch = self._retry.popleft()
            self._retry_items -= len(batch)
            reason = self._spool_append(batch)
            if reason is not None:
                self._drop(len(batch), reason)

    def _post(self, payload: bytes, transport: Transport | None = None) -> Reply:
        self.requests += 1
        if self._failures:
            self.retried += 1
        self._lock.release()
        try:
            return (transport or self._transport).post(payload)
        finally:
            self._lock.acquire()
            if self.rescued:
                raise Rescued

    def _send(
        self, batch: Batch, transport: Transport | None = None
    ) -> tuple[list[Batch], float | None, str | None]:
        """Send, splitting on 413; returns the parts to retry later, Retry-After, the error."""
        reply = self._post(batch.compressed(), transport)
        if reply.ok:
            self._accepted(len(batch), reply.body)
            return [], None, None
        if reply.status == 413 and len(batch) > 1:
            left, right = batch.split()
            unresolved, retry_after, error = self._send(left, transport)
            if unresolved:
                return [*unresolved, right], retry_after, error
            return self._send(right, transport)
        if reply.retryable:
            return [batch], reply.retry_after, reply.error
        self._rejected_batch(len(batch), reply)
        return [], None, None

    def _rejected_batch(self, n: int, reply: Reply) -> None:
        reason = DROP_REASONS.get(reply.status, f"http_{reply.status}")
        detail = None
        if reply.body is not None:
            detail = str(reply.body.get("detail") or reply.body.get("error") or reply.body)[:300]
        self._drop(n, reason, detail or reply.error)

    def _accepted(self, n: int, body: Mapping[str, Any] | None) -> None:
        rejected = body.get("rejected") if body is not None else None
        count = min(len(rejected), n) if isinstance(rejected, list) else 0
        self.sent += n - count
        self._server_up = True
        if count:
            assert isinstance(rejected, list)
            self._drop(count, "rejected", str(rejected[0])[:300])
        if body is not None:
            with contextlib.suppress(Exception):
                self._lg._circuits.update(body)

    def _failed(self, retry_after: float | None, error: str | None) -> None:
        self._failures += 1
        self._server_up = False
        self.last_error = error
        if retry_after is not None:
            delay = min(retry_after, MAX_RETRY_AFTER_S)
        else:
            exponent = min(self._failures - 1, 30)
            cap = min(self._s.backoff_max_s, self._s.backoff_base_s * 2**exponent)
            delay = random.uniform(cap / 2, cap)
        self._backoff_until = time.monotonic() + delay
        self._warn_once(
            "down", "metaagent: ingest unavailable (%s); spooling and retrying with backoff", error
        )

    def _replay(self) -> None:
        spool = self.spool
        budget = REPLAY_PER_CYCLE
        while budget and spool is not None and spool.pending_items and not self.stop_requested:
            if self._failures and time.monotonic() < self._backoff_until:
                return
            record = spool.head()
            if record is None:
                self._replayable = False  # nothing readable: wait for the next tick
                return
            budget -= 1
            reply = self._post(record.payload)
            if reply.ok:
                self._accepted(record.items, reply.body)
                spool.commit(record)
                self._failures = 0
            elif reply.status == 413 and record.items > 1:
                if not self._split_record(spool, record):
                    return
            elif reply.retryable:
                self._failed(reply.retry_after, reply.error)
                return
            else:
                self._rejected_batch(record.items, reply)
                spool.commit(record)

    def _split_record(self, spool: Spool, record: Any) -> bool:
        try:
            batch = Batch.from_compressed(record.payload)
        except Exception as exc:
            self._drop(record.items, "spool_corrupt", str(exc))
            spool.commit(record)
            return True
        left, right = batch.split()  # the whole was just refused: start with the halves
        unresolved, retry_after, error = self._send(left)
        if unresolved:
            unresolved.append(right)
        else:
            unresolved, retry_after, error = self._send(right)
        for part in unresolved:  # requeued at the end; the original record is done
            reason = spool.append(part.compressed(), len(part))
            if reason is not None:
                self._drop(len(part), reason)
        spool.commit(record)
        if unresolved:
            self._failed(retry_after, error)
            return False
        self._failures = 0
        return True
