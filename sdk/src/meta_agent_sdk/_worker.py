"""The daemon worker: drain, encode, batch; then hand batches to delivery (`_delivery.py`).

One thread per logger. Callers only append to the logger's deque; this thread pops, encodes
(sanitizing and pricing on the way), groups items into batches of at most `batch_max_items`
items or `batch_max_bytes` bytes, and routes a batch when it is full or at each tick of
`flush_interval_s`, or at once when an execution that ran as a circuit probe has ended (the
breaker waits for its result). While it encodes a backlog it yields the GIL every 32 items, so
the agent's threads are not stalled for a whole switch interval.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from meta_agent_sdk._action import DONE, OPEN, PENDING, Action
from meta_agent_sdk._batch import Batch
from meta_agent_sdk._delivery import Delivery, Rescued
from meta_agent_sdk._execution import Execution
from meta_agent_sdk._spool import Spool

if TYPE_CHECKING:
    from meta_agent_sdk._logger import AgentLogger

log = logging.getLogger("meta_agent_sdk")

ORPHAN_SCAN_S = 60.0


class Worker(Delivery):
    """The worker thread of one logger in one process (a forked child makes a new one)."""

    def __init__(self, logger: AgentLogger) -> None:
        super().__init__(logger)
        s = self._s
        self._encoder = logger._encoder
        self._batch = Batch()
        self._held: list[Action] = []
        self._open: list[Action] = []
        self._grace_ns = int(min(0.25, s.flush_interval_s) * 1e9)
        self._next_tick = time.monotonic() + s.flush_interval_s
        self._next_scan = time.monotonic() + ORPHAN_SCAN_S
        self.drained = 0
        self._hurried = logger._hurry
        self.thread = threading.Thread(target=self._run, name="metaagent-worker", daemon=True)

    # --- bookkeeping -----------------------------------------------------------------

    def in_memory(self) -> int:
        """Items drained from the deque but not yet sent, spooled or dropped."""
        return (
            len(self._held)
            + len(self._open)
            + len(self._batch)
            + sum(map(len, list(self._inflight)))
            + len(self._awaiting_lane or ())
            + self._retry_items
        )

    # --- the loop --------------------------------------------------------------------

    def _run(self) -> None:
        self._open_spool()
        lg = self._lg
        while True:
            timeout = self._timeout()
            if timeout > 0:
                lg._wake.wait(timeout)
            lg._wake.clear()
            lg._wake_at = self._s.batch_max_items
            waiters = lg._take_waiters()
            # Callers only ever bump the counter, so a bump is never lost to a reset here.
            hurry = lg._hurry != self._hurried
            self._hurried = lg._hurry
            stopping = self.stop_requested
            with self._lock:
                if self.rescued:
                    return
                try:
                    self._cycle(force=stopping or hurry or bool(waiters), final=stopping)
                    if waiters or stopping:
                        self._await_lanes()
                    if waiters and self.spool is not None:
                        self.spool.sync(force=True)
                except Rescued:
                    return
                except Exception:
                    log.exception("metaagent: worker error (the worker keeps going)")
                if stopping:
                    self._stop_lanes()
                    self._transport.close()
                    if self.spool is not None:
                        self.spool.close()
            for waiter in waiters:
                waiter.set()
            if stopping:
                return

    def _open_spool(self) -> None:
        if self.spool is not None:  # carried over from a worker that died
            return
        spool = Spool(
            self._s.spool_path,
            max_bytes=self._s.spool_max_bytes,
            fsync=self._s.spool_fsync,
            fsync_interval_s=self._s.flush_interval_s if self._s.flush_interval_s > 1 else 1.0,
        )
        try:
            spool.open()
        except OSError as exc:
            self._warn_once(
                "spool",
                "metaagent: spool %s unusable (%s); nothing can be held on disk",
                self._s.spool_path,
                exc,
            )
            return
        with self._lock:
            self.spool = spool

    def _timeout(self) -> float:
        now = time.monotonic()
        wait = self._next_tick - now
        spool = self.spool
        if (spool is not None and spool.pending_items and self._replayable) or self._retry:
            wait = min(wait, self._backoff_until - now) if self._failures else 0.0
        return max(0.0, wait)

    def _cycle(self, force: bool, final: bool = False) -> None:
        now = time.monotonic()
        tick = force or now >= self._next_tick
        if tick:
            self._next_tick = now + self._s.flush_interval_s
        queue = self._lg._deque
        polite = len(queue) < self._s.max_buffer_items
        for i in range(len(queue)):
            self.drained += 1
            self._accept(queue.popleft(), force)
            if polite and i & 31 == 31:
                # Let the agent's threads have the GIL now and then, so that encoding a
                # backlog does not stall them for a whole switch interval (5 ms).
                time.sleep(0)
        if tick:
            self._revisit(force, final)
            if len(self._batch):
                self._route_current()
        if final:
            self._park_retries()
        else:
            self._replayable = True
            self._replay()
            self._resend_retries()
        spool = self.spool
        if spool is not None:
            spool.sync()
            if tick and now >= self._next_scan:
                self._next_scan = now + ORPHAN_SCAN_S
                spool.adopt_orphans()

    # --- items into batches ----------------------------------------------------------

    def _accept(self, item: object, force: bool) -> None:
        if type(item) is Action:
            if (
                item._state == PENDING
                and not force
                and time.time_ns() - item._start_ns < self._grace_ns
            ):
                self._held.append(item)
                return
            if self._lg._claims.pop(item, None) is not None:
                item._state = DONE  # nobody entered it: an instant event
            elif item._state != DONE:
                self._open.append(item)  # its block runs; look again next tick
                return
            self._add(item, False)
        elif type(item) is Execution:
            self._add(item, True)

    def _revisit(self, force: bool, final: bool) -> None:
        held, self._held = self._held, []
        for a in held:
            self._accept(a, force)
        still_open: list[Action] = []
        for a in self._open:
            if a._state == DONE:
                self._add(a, False)
            elif final:
                self._add(_unfinished(a), False)
            else:
                still_open.append(a)
        self._open = still_open

    def _add(self, item: Action | Execution, is_execution: bool) -> None:
        try:
            if is_execution:
                assert isinstance(item, Execution)
                self._batch.add_execution(self._encoder.execution(item))
            else:
                assert isinstance(item, Action)
                self._batch.add_action(self._encoder.action(item))
        except Exception as exc:
            self._drop(1, "encode_error", f"{type(exc).__name__}: {exc}")
            return
        b = self._batch
        if len(b) >= self._s.batch_max_items or b.nbytes >= self._s.batch_max_bytes:
            self._route_current()

    def _route_current(self) -> None:
        batch, self._batch = self._batch, Batch()
        self._route(batch)

    # --- shutdown rescue -------------------------------------------------------------

    def rescue(self, timeout: float) -> bool:
        """From shutdown(), when the worker is stuck: spool whatever is in memory, now."""
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            return False
        try:
            if self.rescued:
                return True
            self.rescued = True
            # No sending from here on: everything is spooled, or dropped and counted.
            self._failures = max(self._failures, 1)
            self._backoff_until = float("inf")
            inflight, self._inflight = self._inflight, []
            if self._awaiting_lane is not None:
                inflight.append(self._awaiting_lane)
                self._awaiting_lane = None
            queue = self._lg._deque
            for _ in range(len(queue)):
                self.drained += 1
                self._accept(queue.popleft(), True)
            self._revisit(True, True)
            for batch in (*inflight, self._batch):
                if len(batch):
                    self._retry.append(batch)
                    self._retry_items += len(batch)
            self._batch = Batch()
            self._park_retries()
            if self.spool is not None:
                self.spool.close()
            self._settled.notify_all()  # a worker waiting for a free lane gives up
            self._stop_lanes()  # each lane ends when its request does
            return True
        finally:
            self._lock.release()


def _unfinished(a: Action) -> Action:
    """An action whose block was still running at shutdown is recorded as failed."""
    if a._state == OPEN:
        a._close()
    if a.error_type is None:
        a.set_error("still running when the logger shut down", "failure")
        a.error_type = "Unfinished"
    return a
