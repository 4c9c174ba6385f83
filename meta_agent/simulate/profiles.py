"""How a simulated agent is described: its steps, their latency, tokens and failures, and the
price list of the models it calls. The standard agents themselves are in catalogue.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ActionType = Literal[
    "tool_call", "llm_inference", "retrieval", "human_intervention", "decision", "error", "custom"
]
AgentKind = Literal["writer", "assistant", "classifier", "workflow", "custom"]


@dataclass(frozen=True)
class ModelPrice:
    """List price and speed of one LLM; cost is (tokens / 1M) × price."""

    name: str
    usd_per_mtok_input: float
    usd_per_mtok_output: float
    context_window: int
    # decode speed: long outputs are what makes LLM calls slow, so latency grows with it
    ms_per_output_token: float


MODEL_PRICES: dict[str, ModelPrice] = {
    price.name: price
    for price in (
        ModelPrice("claude-sonnet-4", 3.00, 15.00, 200_000, 16.0),
        ModelPrice("claude-3-5-haiku", 0.80, 4.00, 200_000, 9.0),
        ModelPrice("gpt-4o", 2.50, 10.00, 128_000, 12.0),
        ModelPrice("gpt-4o-mini", 0.15, 0.60, 128_000, 8.0),
    )
}


@dataclass(frozen=True)
class LogNormal:
    """A positive quantity given by its median and the standard deviation of its logarithm."""

    median: float
    sigma: float


@dataclass(frozen=True)
class Failure:
    """One way a step fails: how often, with which error, and how long the failing call takes."""

    rate: float
    error_type: str
    messages: tuple[str, ...]
    status: Literal["failure", "timeout"] = "failure"
    # a timeout lasts as long as the timeout; None keeps the step's usual latency
    duration_ms: float | None = None
    # whether the provider charged for the call (a parse error did, a 429 did not)
    billed: bool = False
    # a 429 or a 503 may pass on the next try; a 400 or a bad answer to the same input will not
    retryable: bool = True


@dataclass(frozen=True)
class Step:
    """One action in an agent's plan; `children` run nested inside it (parent_action_id)."""

    action_type: ActionType
    name: str
    latency_ms: LogNormal
    presence: float = 1.0
    repeats: tuple[int, int] = (1, 1)
    model: str | None = None
    input_tokens: LogNormal | None = None
    output_tokens: LogNormal | None = None
    failures: tuple[Failure, ...] = ()
    retries: int = 0
    children: tuple[Step, ...] = ()
    attributes: str = "{}"


@dataclass(frozen=True)
class AgentProfile:
    """An agent shape. The `*_step` fields name the step where each kind of fault bites."""

    name: str
    kind: AgentKind
    description: str
    owner: str
    tags: tuple[str, ...]
    share: float
    model: str
    sla_p95_ms: int
    steps: tuple[Step, ...]
    prompt_template: str
    # mean executions per user session; None for agents that have no sessions
    session_executions: float | None = None
    scheduled: bool = False
    timeout_tool: str | None = None
    external_api_tool: str | None = None
    external_api_host: str | None = None
    prompt_step: str | None = None
    context_step: str | None = None
    loop_step: str | None = None
