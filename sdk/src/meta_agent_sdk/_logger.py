"""AgentLogger: the one object an agent creates."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, TypeVar, overload

from meta_agent_sdk import _lifecycle
from meta_agent_sdk._action import TOOL_CALL, Action
from meta_agent_sdk._buffer import Buffer, Discard, NoClaims
from meta_agent_sdk._circuits import CircuitCache, CircuitState
from meta_agent_sdk._config import Settings, resolve
from meta_agent_sdk._encode import Encoder
from meta_agent_sdk._execution import Execution
from meta_agent_sdk._guard import CircuitGuard
from meta_agent_sdk._observe import observe as _observe
from meta_agent_sdk._prices import PriceTable
from meta_agent_sdk._refresher import Refresher
from meta_agent_sdk._sanitize import SanitizeConfig, Sanitizer
from meta_agent_sdk._stats import Stats, collect
from meta_agent_sdk._transport import Transport
from meta_agent_sdk._worker import Worker

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    P = ParamSpec("P")

R = TypeVar("R")
_NEVER = sys.maxsize


class AgentLogger:
    """Logs one agent's executions and actions to MetaAgent without blocking the agent.

    Arguments beat the environment (METAAGENT_API_KEY, METAAGENT_ENDPOINT, METAAGENT_SPOOL_DIR,
    METAAGENT_DISABLED, METAAGENT_ENFORCE_CIRCUIT), which beats the defaults. Logging only
    appends to an in-memory buffer; a daemon thread encodes, batches, compresses and sends, and
    spools to disk what the server cannot take. Call `shutdown()` when done (it also runs at
    interpreter exit).

    Unless `enforce_circuit=False`, an execution whose circuit breaker is open is refused with
    `CircuitOpenError` before it starts (decided from cached state, without a request); a
    decorated function returns `fallback(error, *args, **kwargs)` instead, if one is given.
    """

    def __init__(
        self,
        agent: str,
        *,
        api_key: str | None = None,
        endpoint: str | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        disabled: bool | None = None,
        enforce_circuit: bool | None = None,
        fallback: Callable[..., Any] | None = None,
        sanitize: SanitizeConfig | None = None,
        prices: Mapping[str, tuple[float, float]] | None = None,
        batch_max_items: int = 500,
        batch_max_bytes: int = 1_000_000,
        flush_interval_s: float = 1.0,
        max_buffer_items: int = 10_000,
        spool_max_bytes: int = 256 * 1024 * 1024,
        spool_fsync: str = "interval",
        request_timeout_s: float = 10.0,
        max_concurrent_requests: int = 3,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        atexit_timeout_s: float = 5.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._settings: Settings = resolve(
            agent,
            api_key=api_key,
            endpoint=endpoint,
            spool_dir=spool_dir,
            disabled=disabled,
            enforce_circuit=enforce_circuit,
            environ=os.environ if environ is None else environ,
            batch_max_items=batch_max_items,
            batch_max_bytes=batch_max_bytes,
            flush_interval_s=flush_interval_s,
            max_buffer_items=max_buffer_items,
            spool_max_bytes=spool_max_bytes,
            spool_fsync=spool_fsync,
            request_timeout_s=request_timeout_s,
            max_concurrent_requests=max_concurrent_requests,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            atexit_timeout_s=atexit_timeout_s,
        )
        self.agent = self._settings.agent
        self._encoder = Encoder(Sanitizer(sanitize), PriceTable(prices))
        self._circuits = CircuitCache()
        self._fallback = fallback
        settings = self._settings
        self._guard = CircuitGuard(
            self._circuits,
            enabled=settings.enforce_circuit and not settings.disabled,
            make_refresher=lambda guard: Refresher(guard, settings),
        )
        self._closed = False
        self._closed_ok = True
        self._worker: Worker | None = None
        self._fresh_state()
        if not self._settings.disabled:
            self._kick()
        _lifecycle.register(self)

    def _fresh_state(self) -> None:
        """Buffer, claims and signals of this process (again in a forked child)."""
        self._deque: deque[object] = deque()
        self._queue: Buffer = Discard(False) if self._settings.disabled else self._deque
        self._claims: dict[Action, bool] = NoClaims() if self._settings.disabled else {}
        self._wake = threading.Event()
        self._wake_at = 1  # the first append starts the worker
        self._hurry = 0  # bumped when a probe ends: the worker sends at once
        self._waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._start_lock = threading.Lock()

    # --- properties ------------------------------------------------------------------

    @property
    def disabled(self) -> bool:
        """True when logging is switched off (argument or METAAGENT_DISABLED)."""
        return self._settings.disabled

    @property
    def endpoint(self) -> str:
        """The ingest URL batches are sent to."""
        return self._settings.ingest_url

    @property
    def spool_dir(self) -> Path:
        """The directory this logger spools to (one per endpoint and API key)."""
        return self._settings.spool_path

    @property
    def enforce_circuit(self) -> bool:
        """True while executions are refused when their circuit breaker is open."""
        return self._guard.enabled

    @property
    def routing_version(self) -> int | None:
        """The routing version of the last ingest response, None before any."""
        return self._circuits.routing_version

    # --- logging ---------------------------------------------------------------------

    def execution(
        self,
        input: Any = None,
        metadata: dict[str, Any] | None = None,
        session_id: str | None = None,
        *,
        prompt_version_id: str | None = None,
        experiment_id: str | None = None,
        variant: str | None = None,
        trace_id: str | None = None,
        parent_execution_id: str | None = None,
    ) -> Execution:
        """A new execution, to use as `with` (or `async with`) block around one agent run.

        A normal exit records success; an exception records failure (timeout for timeouts,
        cancelled for cancellation) with the sanitized exception, and propagates. Inside
        another execution, the new one records it as its parent. Entering it raises
        `CircuitOpenError` when the agent's circuit breaker refuses it (there is no block to
        skip, so no fallback here): the block does not run and nothing is logged.
        """
        return Execution(
            self,
            input=input,
            metadata=metadata,
            session_id=session_id,
            prompt_version_id=prompt_version_id,
            experiment_id=experiment_id,
            variant=variant,
            trace_id=trace_id,
            parent_execution_id=parent_execution_id,
        )

    @overload
    def observe(self, func: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def observe(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        action_type: str = TOOL_CALL,
        capture_input: bool = True,
        capture_output: bool = True,
        fallback: Callable[..., Any] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def observe(
        self,
        func: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        action_type: str = TOOL_CALL,
        capture_input: bool = True,
        capture_output: bool = True,
        fallback: Callable[..., Any] | None = None,
    ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorate a function or coroutine function so that each call is logged.

        Called outside an execution of this logger, each call is an execution; inside one,
        each call is an action of `action_type` (default tool_call) named `name` (default the
        function's qualified name). Arguments become the input, the return value the output.
        A call the circuit breaker refuses does not run: it returns
        `fallback(error, *args, **kwargs)` (this one, else the logger's), or raises
        `CircuitOpenError` if there is none.
        """

        def decorate(f: Callable[P, R]) -> Callable[P, R]:
            return _observe(
                self,
                f,
                name=name,
                action_type=action_type,
                capture_input=capture_input,
                capture_output=capture_output,
                fallback=fallback,
            )

        return decorate if func is None else decorate(func)

    def _emit(self, item: object) -> None:
        queue = self._queue
        queue.append(item)
        if len(queue) >= self._wake_at:
            self._kick()

    def _kick(self) -> None:
        worker = self._worker
        if (worker is None or not worker.thread.is_alive()) and not self._start_worker():
            return
        self._wake_at = _NEVER  # until the worker has drained
        self._wake.set()

    def _start_worker(self) -> bool:
        with self._start_lock:
            if self._closed or self._settings.disabled:
                return False
            worker = self._worker
            if worker is not None and worker.thread.is_alive():
                return True
            dead, worker = worker, Worker(self)
            if dead is not None:  # it died (it should not): keep its spool and counters
                worker.spool, worker.drained, worker.sent = dead.spool, dead.drained, dead.sent
                worker.dropped = dead.dropped
            try:
                worker.thread.start()
            except RuntimeError:  # interpreter shutting down
                return False
            self._worker = worker
            return True

    def _new_transport(self) -> Transport:
        s = self._settings
        return Transport(s.ingest_url, s.api_key, s.request_timeout_s)

    def _take_waiters(self) -> list[threading.Event]:
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, []
        return waiters

    # --- delivery control ------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything logged so far is sent or spooled; False if `timeout` passed.

        Never waits longer than `timeout` seconds, whatever the server does.
        """
        if self._settings.disabled or self._closed:
            return True
        event = threading.Event()
        with self._waiters_lock:
            self._waiters.append(event)
        self._kick()
        if self._worker is None:
            return False
        return event.wait(max(0.0, timeout))

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Send or spool everything, stop the worker; bounded by `timeout` seconds.

        If the server hangs past the deadline, what is still in memory is written to the
        spool from this thread, to be sent by the next logger that uses the same spool.
        Returns False if some of it could not be sent or spooled in time. Idempotent.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        self._guard.stop(min(0.2, max(0.0, timeout) / 4))
        with self._start_lock:
            if self._closed:
                return self._closed_ok
            self._closed = True
            if not self._settings.disabled:
                self._queue = Discard(True)
        worker = self._worker
        if worker is None:
            return True
        worker.stop_requested = True
        self._wake.set()
        reserve = min(0.5, max(0.0, timeout) / 4)
        worker.thread.join(max(0.0, deadline - reserve - time.monotonic()))
        ok = True
        if worker.thread.is_alive():
            ok = worker.rescue(deadline - time.monotonic())
        self._claims = NoClaims()  # instant actions logged from now on are only counted
        self._closed_ok = ok
        return ok

    def __enter__(self) -> AgentLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    # --- observing -------------------------------------------------------------------

    def stats(self) -> Stats:
        """Counters of where every logged item is (queued, sent, spooled, dropped, ...) and of
        circuit enforcement (refused, probes, permits_expired, circuit_requests)."""
        return collect(self)

    def circuit_state(self, agent: str | None = None) -> CircuitState:
        """The circuit the server last reported for `agent` (default: this logger's agent)."""
        return self._circuits.get(agent or self.agent)

    def circuits(self) -> dict[str, CircuitState]:
        """Every circuit the server has reported so far, by agent."""
        return self._circuits.snapshot()

    # --- process lifecycle -----------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """A forked child starts empty, with a worker of its own on its first log."""
        old = self._worker
        self._worker = None
        if old is not None and old.spool is not None:
            old.spool.abandon()
        self._circuits.after_fork()
        self._guard.fresh()
        closed = self._closed
        self._fresh_state()
        if closed:
            self._queue = Discard(True)
            self._claims = NoClaims()

    def __repr__(self) -> str:
        state = "disabled" if self.disabled else ("closed" if self._closed else "open")
        return f"<AgentLogger {self.agent!r} {self.endpoint} {state}>"
