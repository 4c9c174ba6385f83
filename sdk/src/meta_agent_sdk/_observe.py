"""The decorator form: each call of a function or coroutine function is logged.

Outside an execution of the same logger a call is an execution of its own; inside one it is
an action. Generators are not followed: their body runs after the call returns.

A call the circuit breaker refuses does not run: with a fallback (the decorator's, else the
logger's) it returns `fallback(error, *args, **kwargs)` (awaited if that is awaitable), else it
raises the `CircuitOpenError`.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable, TypeVar, cast

from meta_agent_sdk._action import ACTION_TYPES
from meta_agent_sdk._circuits import CircuitOpenError
from meta_agent_sdk._context import current_execution_var

if TYPE_CHECKING:
    from typing_extensions import ParamSpec

    from meta_agent_sdk._logger import AgentLogger

    P = ParamSpec("P")

R = TypeVar("R")


def _arguments(signature: inspect.Signature | None, args: Any, kwargs: Any) -> Any:
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            pass
        else:
            return {k: v for k, v in bound.items() if k not in ("self", "cls")}
    return {"args": list(args), "kwargs": dict(kwargs)}


def observe(
    logger: AgentLogger,
    func: Callable[P, R],
    *,
    name: str | None,
    action_type: str,
    capture_input: bool,
    capture_output: bool,
    fallback: Callable[..., Any] | None,
) -> Callable[P, R]:
    """Wrap `func` so that each call is an execution, or an action inside one."""
    if action_type not in ACTION_TYPES:
        raise ValueError(f"action_type must be one of {sorted(ACTION_TYPES)}")
    label = name or getattr(func, "__qualname__", None) or repr(func)
    try:
        signature: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            payload = _arguments(signature, args, kwargs) if capture_input else None
            outer = current_execution_var.get()
            if outer is not None and outer._logger is logger:
                with outer._record(
                    action_type, label, payload, None, None, "success", None, None
                ) as action:
                    result = await func(*args, **kwargs)
                    if capture_output:
                        action.output = result
                    return result
            run = logger.execution(input=payload, metadata={"function": label})
            try:
                run._admit()
            except CircuitOpenError as error:
                fb = fallback or logger._fallback
                if fb is None:
                    raise
                result = fb(error, *args, **kwargs)
                return await result if inspect.isawaitable(result) else result
            async with run:
                result = await func(*args, **kwargs)
                if capture_output:
                    run.output = result
                return result

        return cast("Callable[P, R]", run_async)

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        payload = _arguments(signature, args, kwargs) if capture_input else None
        outer = current_execution_var.get()
        if outer is not None and outer._logger is logger:
            with outer._record(
                action_type, label, payload, None, None, "success", None, None
            ) as action:
                result = func(*args, **kwargs)
                if capture_output:
                    action.output = result
                return result
        ex = logger.execution(input=payload, metadata={"function": label})
        try:
            ex._admit()
        except CircuitOpenError as error:
            fb = fallback or logger._fallback
            if fb is None:
                raise
            return fb(error, *args, **kwargs)
        with ex:
            result = func(*args, **kwargs)
            if capture_output:
                ex.output = result
            return result

    return cast("Callable[P, R]", run)
