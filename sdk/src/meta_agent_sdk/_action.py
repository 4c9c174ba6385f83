"""Actions: the typed steps of an execution, and the handle a call of one returns.

An action call without `duration_ms` returns a handle that is either used as a context manager
(it then times its block) or not (it is then an instant event). The two cannot be told apart
at the call, so the handle is queued at once and whoever claims it first decides: `__enter__`,
which claims it immediately, or the worker, which leaves a claimable handle alone for a grace
period. Claims are `dict.pop` on one shared dict, atomic in CPython.
"""

from __future__ import annotations

from time import perf_counter_ns, time_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any, Union

from meta_agent_sdk._context import current_action_var
from meta_agent_sdk._ids import random_bits, uuid7_text

if TYPE_CHECKING:
    from contextvars import Token

    from meta_agent_sdk._execution import Execution

PENDING, OPEN, DONE = 0, 1, 2
ErrorLike = Union[BaseException, str, None]
ACTION_STATUSES = frozenset({"success", "failure", "timeout"})

TOOL_CALL = "tool_call"
LLM_INFERENCE = "llm_inference"
RETRIEVAL = "retrieval"
HUMAN_INTERVENTION = "human_intervention"
DECISION = "decision"
ERROR = "error"
CUSTOM = "custom"
ACTION_TYPES = frozenset(
    {TOOL_CALL, LLM_INFERENCE, RETRIEVAL, HUMAN_INTERVENTION, DECISION, ERROR, CUSTOM}
)


def is_timeout(exc: BaseException) -> bool:
    # asyncio.TimeoutError is its own class before Python 3.11.
    return any(c.__name__ == "TimeoutError" for c in type(exc).__mro__)


def error_fields(error: BaseException | str) -> tuple[str, str]:
    """(error_type, error_message) of an exception or a message; sanitized later."""
    if isinstance(error, BaseException):
        return type(error).__qualname__, str(error)
    return "Error", str(error)


class Action:
    """One step of an execution: a tool call, an LLM call, a retrieval, a decision, ...

    Inside its `with` block, set `output`, `attributes`, tokens or `status` on it; an exception
    leaving the block marks it failed (or timed out) and propagates.
    """

    # Class-level defaults keep the hot path down to the attributes every action needs.
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    _id: str | None = None
    _token: Token[Action | None] | None = None
    _explicit_duration = False
    _t0 = 0

    execution: Execution
    parent: Action | None
    action_type: str
    name: str
    sequence: int
    input: Any
    output: Any
    attributes: dict[str, Any] | None
    status: str
    _rand: int
    _start_ns: int
    _end_ns: int
    _state: int

    @property
    def action_id(self) -> str:
        """This action's id (a UUIDv7)."""
        text = self._id
        if text is None:
            text = self._id = uuid7_text(self._start_ns, self._rand)
        return text

    @property
    def parent_action_id(self) -> str | None:
        """The id of the action this one is nested in, or None at the top of the execution."""
        return None if self.parent is None else self.parent.action_id

    @property
    def duration_ms(self) -> float:
        """How long the action took (so far, while its block runs)."""
        end = self._end_ns if self._state != OPEN else self._start_ns + perf_counter_ns() - self._t0
        return (end - self._start_ns) / 1e6

    def set_error(self, error: BaseException | str, status: str = "failure") -> None:
        """Mark the action failed with this exception or message."""
        self.status = status
        self.error_type, self.error_message = error_fields(error)

    def __enter__(self) -> Action:
        logger = self.execution._logger
        if logger._claims.pop(self, None) is None:
            if self._explicit_duration:
                raise RuntimeError(
                    "an action given duration_ms is already recorded; drop it to time a block"
                )
            if self._state == OPEN:
                raise RuntimeError("this action's block is already running")
            # The worker took it for an instant event a moment ago: time the block as a
            # fresh action instead of changing one that may be on its way already.
            self._rand = random_bits(74)
            self._id = None
            self._start_ns = time_ns()
            self._state = OPEN
            logger._emit(self)
        # _start_ns is the call's clock reading, a few hundred nanoseconds ago.
        self._state = 1  # OPEN
        self._t0 = perf_counter_ns()
        self._token = current_action_var.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end_ns = self._start_ns + perf_counter_ns() - self._t0
        token = self._token
        if token is not None:
            self._token = None
            try:  # noqa: SIM105 - contextlib.suppress costs more on this hot path
                current_action_var.reset(token)
            except ValueError:  # exited in another context than it was entered in
                pass
        if exc is not None:
            self.set_error(exc, "timeout" if is_timeout(exc) else "failure")
        self._state = DONE

    async def __aenter__(self) -> Action:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _open(self) -> None:
        """Start timing without touching the context (for callback integrations)."""
        self.execution._logger._claims.pop(self, None)
        self._state = OPEN
        self._start_ns = time_ns()
        self._t0 = perf_counter_ns()

    def _close(self, error: BaseException | None = None) -> None:
        """Stop timing an action started with `_open`."""
        self._end_ns = self._start_ns + perf_counter_ns() - self._t0
        if error is not None:
            self.set_error(error, "timeout" if is_timeout(error) else "failure")
        self._state = DONE

    def __repr__(self) -> str:
        return f"<Action {self.action_type} {self.name!r} {self.action_id}>"
