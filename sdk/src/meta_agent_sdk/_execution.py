"""Executions: one run of an agent, and the methods that log its actions.

The caller's thread only fills plain attributes, reads two clocks and appends the object to
the logger's deque; ids are formatted, payloads sanitized and JSON encoded later, by the
worker. So payload objects are captured by reference: do not mutate them after logging.

Entering an execution (`with` / `async with`) first asks the logger's circuit guard, from its
cache: a refused execution raises `CircuitOpenError` before anything starts or is logged.
"""

from __future__ import annotations

import itertools
from time import perf_counter_ns, time_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any

from meta_agent_sdk._action import (
    ACTION_STATUSES,
    CUSTOM,
    DECISION,
    DONE,
    ERROR,
    HUMAN_INTERVENTION,
    LLM_INFERENCE,
    PENDING,
    RETRIEVAL,
    TOOL_CALL,
    Action,
    ErrorLike,
    error_fields,
    is_timeout,
)
from meta_agent_sdk._context import current_action_var, current_execution_var
from meta_agent_sdk._ids import random_bits, uuid7_text

if TYPE_CHECKING:
    from contextvars import Token

    from meta_agent_sdk._guard import Permit
    from meta_agent_sdk._logger import AgentLogger


class Execution:
    """One run of an agent, from `with logger.execution(...)` to the end of the block.

    Set `output` (and optionally `metadata`, `model`, token counts, `cost_usd`) inside the
    block. Tokens and cost default to the sums over its `llm_inference` actions.
    """

    output: Any = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    _id: str | None = None
    _status: str = "running"
    _user_status: str | None = None
    _start_ns = 0
    _end_ns = 0
    _t0 = 0
    _tokens: tuple[Token[Execution | None], Token[Action | None]] | None = None
    _admitted = False
    _permit: Permit | None = None

    def __init__(
        self,
        logger: AgentLogger,
        *,
        input: Any = None,
        metadata: dict[str, Any] | None = None,
        session_id: str | None = None,
        prompt_version_id: str | None = None,
        experiment_id: str | None = None,
        variant: str | None = None,
        trace_id: str | None = None,
        parent_execution_id: str | None = None,
    ) -> None:
        self._logger = logger
        self.agent = logger.agent
        self.input = input
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}
        self.session_id = session_id
        self.prompt_version_id = prompt_version_id
        self.experiment_id = experiment_id
        self.variant = variant
        self.trace_id = trace_id
        self.parent_execution_id = parent_execution_id
        self._created_ns = time_ns()
        self._rand = random_bits(74)
        self._sequence = itertools.count()
        self._llm: list[Action] = []

    @property
    def execution_id(self) -> str:
        """This execution's id (a UUIDv7)."""
        text = self._id
        if text is None:
            text = self._id = uuid7_text(self._created_ns, self._rand)
        return text

    @property
    def status(self) -> str:
        """running, then success, failure, timeout or cancelled."""
        return self._status

    def set_status(self, status: str) -> None:
        """Override the status a normal exit records: success (default), failure or timeout."""
        if status not in ("success", "failure", "timeout", "cancelled"):
            raise ValueError(f"unknown execution status {status!r}")
        self._user_status = status

    @property
    def circuit_permit(self) -> str | None:
        """The token of the breaker permit this execution runs with (a probe), else None."""
        permit = self._permit
        return None if permit is None else permit.token

    # --- lifecycle -----------------------------------------------------------------

    def _admit(self) -> None:
        """Ask the circuit guard; raises CircuitOpenError if this run must not start.

        An execution nested in a running execution of the same agent is part of that run,
        which was admitted already: it is not asked again.
        """
        if self._admitted:
            return
        guard = self._logger._guard
        if guard.enabled:
            parent = current_execution_var.get()
            if parent is None or parent.agent != self.agent:
                self._permit = guard.admit(self.agent)
        self._admitted = True

    def _begin(self) -> None:
        if self._status != "running" or self._start_ns:
            raise RuntimeError("an execution can be entered once")
        parent = current_execution_var.get()
        if parent is not None and self.parent_execution_id is None:
            self.parent_execution_id = parent.execution_id
            if self.trace_id is None:
                self.trace_id = parent.trace_id or parent.execution_id
        self._start_ns = time_ns()
        self._t0 = perf_counter_ns()

    def _finish(self, exc: BaseException | None) -> None:
        self._end_ns = self._start_ns + perf_counter_ns() - self._t0
        if exc is None:
            self._status = self._user_status or "success"
        else:
            if is_timeout(exc):
                self._status = "timeout"
            elif isinstance(exc, Exception):
                self._status = "failure"
            else:  # KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit
                self._status = "cancelled"
            self.error_type, self.error_message = error_fields(exc)
        logger = self._logger
        logger._emit(self)
        if self._permit is not None:  # the breaker waits for this probe's result: send it now
            logger._hurry += 1
            logger._kick()

    def __enter__(self) -> Execution:
        self._admit()
        self._begin()
        self._tokens = (current_execution_var.set(self), current_action_var.set(None))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tokens = self._tokens
        if tokens is not None:
            self._tokens = None
            try:
                current_action_var.reset(tokens[1])
                current_execution_var.reset(tokens[0])
            except ValueError:  # exited in another context than it was entered in
                pass
        self._finish(exc)

    async def __aenter__(self) -> Execution:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # --- actions -------------------------------------------------------------------

    def _record(
        self,
        action_type: str,
        name: str,
        input: Any,
        output: Any,
        duration_ms: float | None,
        status: str,
        error: ErrorLike,
        attributes: dict[str, Any] | None,
    ) -> Action:
        if status != "success" and status not in ACTION_STATUSES:
            raise ValueError(f"action status must be one of {sorted(ACTION_STATUSES)}")
        a = Action.__new__(Action)
        now = time_ns()
        a.execution = self
        parent = current_action_var.get()
        a.parent = parent if parent is not None and parent.execution is self else None
        a.action_type = action_type
        a.name = name
        a.sequence = next(self._sequence)
        a.input = input
        a.output = output
        a.attributes = attributes
        a.status = status
        a._rand = random_bits(74)
        logger = self._logger
        if duration_ms is None:
            a._start_ns = a._end_ns = now
            a._state = PENDING
            logger._claims[a] = True
        else:
            a._end_ns = now
            a._start_ns = now - int(duration_ms * 1_000_000)
            a._state = DONE
            a._explicit_duration = True
        if error is not None:
            a.set_error(error, status if status != "success" else "failure")
        queue = logger._queue
        queue.append(a)
        if len(queue) >= logger._wake_at:
            logger._kick()
        return a

    def tool_call(
        self,
        name: str,
        *,
        input: Any = None,
        output: Any = None,
        duration_ms: float | None = None,
        status: str = "success",
        error: ErrorLike = None,
        attributes: dict[str, Any] | None = None,
    ) -> Action:
        """Log a call of tool `name`; pass `duration_ms`, or use the result as `with` block."""
        return self._record(TOOL_CALL, name, input, output, duration_ms, status, error, attributes)

    def llm_inference(
        self,
        model: str,
        input_tokens: int = 0,
        output_tokens: int = 0,
        *,
        cost_usd: float | None = None,
        input: Any = None,
        output: Any = None,
        duration_ms: float | None = None,
        status: str = "success",
        error: ErrorLike = None,
        attributes: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Action:
        """Log an LLM call; its cost comes from the price table unless `cost_usd` is given."""
        a = self._record(
            LLM_INFERENCE, name or model, input, output, duration_ms, status, error, attributes
        )
        a.model = model
        a.input_tokens = input_tokens
        a.output_tokens = output_tokens
        if cost_usd is not None:
            a.cost_usd = cost_usd
        self._llm.append(a)
        return a

    def retrieval(
        self,
        name: str,
        *,
        input: Any = None,
        output: Any = None,
        duration_ms: float | None = None,
        status: str = "success",
        error: ErrorLike = None,
        attributes: dict[str, Any] | None = None,
    ) -> Action:
        """Log a retrieval from `name` (the query as `input`, the documents as `output`)."""
        return self._record(RETRIEVAL, name, input, output, duration_ms, status, error, attributes)

    def human_intervention(
        self,
        name: str,
        *,
        input: Any = None,
        output: Any = None,
        duration_ms: float | None = None,
        status: str = "success",
        error: ErrorLike = None,
        attributes: dict[str, Any] | None = None,
    ) -> Action:
        """Log a person stepping in: an approval, a correction, a hand-off."""
        return self._record(
            HUMAN_INTERVENTION, name, input, output, duration_ms, status, error, attributes
        )

    def decision(
        self,
        name: str,
        *,
        input: Any = None,
        output: Any = None,
        duration_ms: float | None = None,
        status: str = "success",
        error: ErrorLike = None,
        attributes: dict[str, Any] | None = None,
    ) -> Action:
        """Log a choice the agent made (`output`: what it chose, `input`: from what)."""
        return self._record(DECISION, name, input, output, duration_ms, status, error, attributes)

    def error(
        self,
        error: BaseException | str,
        *,
        name: str | None = None,
        input: Any = None,
        duration_ms: float | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> Action:
        """Log an error the agent met and handled; the execution itself goes on."""
        label = name or (type(error).__qualname__ if isinstance(error, BaseException) else "error")
        return self._record(ERROR, label, input, None, duration_ms, "failure", error, attributes)

    def custom(
        self,
        name: str,
        *,
        input: Any = None,
        output: Any = None,
        duration_ms: float | None = None,
        status: str = "success",
        error: ErrorLike = None,
        attributes: dict[str, Any] | None = None,
    ) -> Action:
        """Log any other step."""
        return self._record(CUSTOM, name, input, output, duration_ms, status, error, attributes)

    def __repr__(self) -> str:
        return f"<Execution {self.agent!r} {self.execution_id} {self._status}>"
