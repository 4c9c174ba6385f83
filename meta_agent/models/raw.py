"""Raw logs as the SDK sends them, and the fleet simulator's injected faults (migration 0002).

Raw tables are partitioned by UTC day on `started_at` and carry no foreign keys.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import CostUsd, JsonObject, TableModel

ExecutionStatus = Literal["running", "success", "failure", "timeout", "cancelled"]
ActionType = Literal[
    "tool_call", "llm_inference", "retrieval", "human_intervention", "decision", "error", "custom"
]
ActionStatus = Literal["success", "failure", "timeout"]
FaultKind = Literal[
    "tool_timeout_storm",
    "prompt_regression",
    "context_overflow",
    "external_api_outage",
    "cost_blowup",
]


class Execution(TableModel):
    """One run of an agent; idempotent by (execution_id, started_at)."""

    __table__ = "raw.executions"

    execution_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    duration_ms: float | None = Field(default=None, ge=0)
    status: ExecutionStatus
    session_id: str | None = None
    # set when another agent's execution started this one
    parent_execution_id: uuid.UUID | None = None
    trace_id: str | None = None
    prompt_version_id: uuid.UUID | None = None
    experiment_id: uuid.UUID | None = None
    variant: str | None = None
    model: str | None = None
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: CostUsd = Decimal(0)
    error_type: str | None = None
    error_message: str | None = None
    input: Any = None
    output: Any = None
    metadata: JsonObject = Field(default_factory=dict)
    sdk_version: str | None = None
    ingested_at: AwareDatetime


class Action(TableModel):
    """One step inside an execution: a tool call, an LLM inference, a retrieval, ..."""

    __table__ = "raw.actions"

    action_id: uuid.UUID
    tenant_id: uuid.UUID
    execution_id: uuid.UUID
    parent_action_id: uuid.UUID | None = None
    agent_id: uuid.UUID
    sequence: int = Field(default=0, ge=0)
    action_type: ActionType
    name: str
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    duration_ms: float | None = Field(default=None, ge=0)
    status: ActionStatus
    model: str | None = None
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: CostUsd = Decimal(0)
    error_type: str | None = None
    error_message: str | None = None
    input: Any = None
    output: Any = None
    attributes: JsonObject = Field(default_factory=dict)
    ingested_at: AwareDatetime


class SimulatedFault(TableModel):
    """Ground truth of the fleet simulator; scored against, never an input to analysis."""

    __table__ = "public.simulated_faults"

    simulated_fault_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    fault_kind: FaultKind
    started_at: AwareDatetime
    ended_at: AwareDatetime
    details: JsonObject = Field(default_factory=dict)
    seed: int


class ExecutionHourly(TableModel):
    """Executions per tenant and UTC hour, kept by a trigger as rows arrive (migration 0012);
    the overview sums it instead of scanning a day of raw rows."""

    __table__ = "raw.execution_hourly"

    tenant_id: uuid.UUID
    hour: AwareDatetime
    executions: int = Field(default=0, ge=0)
    failures: int = Field(default=0, ge=0)
    cost_usd: Decimal = Decimal(0)


class AgentExecutionHourly(TableModel):
    """Decided executions and failures per agent and UTC hour, kept by a trigger as rows
    arrive (migration 0017); the SLA burn-rate windows sum it instead of scanning raw rows."""

    __table__ = "raw.agent_execution_hourly"

    tenant_id: uuid.UUID
    hour: AwareDatetime
    agent_id: uuid.UUID
    executions: int = Field(default=0, ge=0)
    failures: int = Field(default=0, ge=0)
    cost_usd: Decimal = Decimal(0)
