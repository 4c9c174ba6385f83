"""LangChain and LangGraph: a callback handler that logs runs as executions and actions.

    pip install 'metaagent-sdk[langchain]'

    from meta_agent_sdk.integrations.langchain import MetaAgentCallbackHandler

    handler = MetaAgentCallbackHandler(logger)
    graph.invoke(inputs, config={"callbacks": [handler]})

A top-level run becomes an execution (inside an open `logger.execution()` block, an action of
that execution instead). Nested runs become actions under their parent run: chains and graph
nodes `custom`, chat models and LLMs `llm_inference` (model and token usage from the
response), tools `tool_call`, retrievers `retrieval`, agent actions `decision`. LangGraph's
interrupts are recorded as such, not as failures.

langchain-core is imported when this module is, never by `import meta_agent_sdk`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from uuid import UUID

try:
    from langchain_core.callbacks import (  # type: ignore[import-not-found, unused-ignore]
        BaseCallbackHandler,
    )
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "meta_agent_sdk.integrations.langchain needs langchain-core: "
        "pip install 'metaagent-sdk[langchain]'"
    ) from exc

from meta_agent_sdk._action import CUSTOM, DECISION, LLM_INFERENCE, RETRIEVAL, TOOL_CALL, Action
from meta_agent_sdk._context import current_execution_var
from meta_agent_sdk._execution import Execution
from meta_agent_sdk._logger import AgentLogger

_INTERRUPTS = frozenset({"GraphInterrupt", "NodeInterrupt", "GraphBubbleUp", "ParentCommand"})


class _Run(NamedTuple):
    execution: Execution
    action: Action | None
    owns_execution: bool


def _name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    if kwargs.get("name"):
        return str(kwargs["name"])
    if serialized:
        if serialized.get("name"):
            return str(serialized["name"])
        ident = serialized.get("id")
        if isinstance(ident, Sequence) and ident and not isinstance(ident, str):
            return str(ident[-1])
    return default


def _model(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str:
    params = kwargs.get("invocation_params") or {}
    metadata = kwargs.get("metadata") or {}
    sources = (params, metadata, (serialized or {}).get("kwargs") or {})
    for source in sources:
        for key in ("model", "model_name", "ls_model_name", "model_id"):
            value = source.get(key) if isinstance(source, Mapping) else None
            if value:
                return str(value)
    return _name(serialized, kwargs, "llm")


def _usage(response: Any) -> tuple[int, int]:
    """(input, output) tokens from an LLMResult: message usage_metadata, else llm_output."""
    tokens_in = tokens_out = 0
    for generations in getattr(response, "generations", None) or []:
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if isinstance(usage, Mapping):
                tokens_in += int(usage.get("input_tokens") or 0)
                tokens_out += int(usage.get("output_tokens") or 0)
    if tokens_in or tokens_out:
        return tokens_in, tokens_out
    output = getattr(response, "llm_output", None) or {}
    usage = output.get("token_usage") or output.get("usage") or {}
    if isinstance(usage, Mapping):
        tokens_in = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
    return tokens_in, tokens_out


def _texts(response: Any) -> Any:
    texts = [
        [getattr(g, "text", None) for g in generations]
        for generations in getattr(response, "generations", None) or []
    ]
    if len(texts) == 1 and len(texts[0]) == 1:
        return texts[0][0]
    return texts


def _content(value: Any) -> Any:
    content = getattr(value, "content", None)
    return value if content is None else content


class MetaAgentCallbackHandler(BaseCallbackHandler):  # type: ignore[misc, unused-ignore]
    """Logs LangChain / LangGraph runs through an `AgentLogger`; thread-safe, never raises."""

    raise_error = False
    run_inline = True  # appending to the logger is cheap; no executor hop needed

    def __init__(
        self, logger: AgentLogger, *, capture_inputs: bool = True, capture_outputs: bool = True
    ) -> None:
        """Log through `logger`; `capture_*=False` keeps prompts or results out of the logs."""
        super().__init__()
        self.logger = logger
        self.capture_inputs = capture_inputs
        self.capture_outputs = capture_outputs
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    # --- run bookkeeping -------------------------------------------------------------

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        action_type: str | None,
        name: str,
        inputs: Any,
        tags: list[str] | None,
    ) -> Action | None:
        inputs = inputs if self.capture_inputs else None
        with self._lock:
            parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        attributes: dict[str, Any] = {"langchain_run_id": str(run_id)}
        if tags:
            attributes["tags"] = list(tags)
        owns = False
        if parent is not None:
            execution, parent_action = parent.execution, parent.action
        else:
            outer = current_execution_var.get()
            if outer is not None and outer._logger is self.logger:
                execution, parent_action = outer, None
                action_type = action_type or CUSTOM
            else:
                execution = self.logger.execution(input=inputs, metadata=dict(attributes))
                execution._begin()
                parent_action, owns = None, True
        action = None
        if action_type is not None:
            action = execution._record(
                action_type, name, inputs, None, None, "success", None, attributes
            )
            if parent is not None:
                action.parent = parent_action
            action._open()
        with self._lock:
            self._runs[run_id] = _Run(execution, action, owns)
        return action

    def _end(self, run_id: UUID, output: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is None:
            return
        interrupted = error is not None and type(error).__name__ in _INTERRUPTS
        if interrupted:
            assert error is not None
            output, error = {"interrupt": type(error).__name__, "detail": str(error)}, None
        if run.action is not None:
            if self.capture_outputs and output is not None:
                run.action.output = output
            run.action._close(error)
        if run.owns_execution:
            if self.capture_outputs and output is not None:
                run.execution.output = output
            if interrupted:
                run.execution.metadata["interrupted"] = True
            run.execution._finish(error)

    # --- chains and graph nodes --------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chain or graph node starts: an execution at the top, else a custom action."""
        top = parent_run_id is None or parent_run_id not in self._runs
        kind = None if top else CUSTOM
        self._start(run_id, parent_run_id, kind, _name(serialized, kwargs, "chain"), inputs, tags)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain or node finished."""
        self._end(run_id, outputs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain or node failed (a LangGraph interrupt is not a failure)."""
        self._end(run_id, error=error)

    def on_agent_action(
        self, action: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """An agent chose a tool: a decision under the agent's run."""
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            return
        decision = run.execution._record(
            DECISION,
            str(getattr(action, "tool", "agent_action")),
            getattr(action, "tool_input", None) if self.capture_inputs else None,
            None,
            0.0,
            "success",
            None,
            None,
        )
        decision.parent = run.action

    # --- models ------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chat model call starts: an llm_inference action."""
        model = _model(serialized, {**kwargs, "metadata": metadata})
        prompt = [
            [{"role": getattr(m, "type", "?"), "content": _content(m)} for m in batch]
            for batch in messages
        ]
        action = self._start(run_id, parent_run_id, LLM_INFERENCE, model, prompt, tags)
        if action is not None:
            action.model = model

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A (text) LLM call starts: an llm_inference action."""
        model = _model(serialized, {**kwargs, "metadata": metadata})
        action = self._start(run_id, parent_run_id, LLM_INFERENCE, model, prompts, tags)
        if action is not None:
            action.model = model

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call finished: its text and token usage."""
        with self._lock:
            run = self._runs.get(run_id)
        if run is not None and run.action is not None:
            run.action.input_tokens, run.action.output_tokens = _usage(response)
            run.execution._llm.append(run.action)
        self._end(run_id, _texts(response))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call failed."""
        self._end(run_id, error=error)

    # --- tools and retrievers ----------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A tool call starts: a tool_call action."""
        name = _name(serialized, kwargs, "tool")
        self._start(run_id, parent_run_id, TOOL_CALL, name, inputs or input_str, tags)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool call finished."""
        self._end(run_id, _content(output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool call failed."""
        self._end(run_id, error=error)

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A retriever starts: a retrieval action."""
        name = _name(serialized, kwargs, "retriever")
        self._start(run_id, parent_run_id, RETRIEVAL, name, query, tags)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever returned documents."""
        docs = [
            {"page_content": getattr(d, "page_content", d), "metadata": getattr(d, "metadata", {})}
            for d in documents
        ]
        self._end(run_id, docs)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever failed."""
        self._end(run_id, error=error)


__all__ = ["MetaAgentCallbackHandler"]
