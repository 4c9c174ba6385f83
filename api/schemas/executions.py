"""Executions and their actions, as a list and as one trace tree."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from api.schemas.common import ReadModel

ExecutionStatus = Literal["running", "success", "failure", "timeout", "cancelled"]
ActionType = Literal[
    "tool_call", "llm_inference", "retrieval", "human_intervention", "decision", "error", "custom"
]


class ExecutionSummary(ReadModel):
    execution_id: uuid.UUID
    agent_id: uuid.UUID
    agent_name: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration_ms: float | None
    status: ExecutionStatus
    session_id: str | None
    parent_execution_id: uuid.UUID | None
    prompt_version_id: uuid.UUID | None
    experiment_id: uuid.UUID | None
    variant: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    error_type: str | None
    error_message: str | None


class ActionNode(ReadModel):
    action_id: uuid.UUID
    parent_action_id: uuid.UUID | None
    sequence: int
    action_type: ActionType
    name: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration_ms: float | None
    status: Literal["success", "failure", "timeout"]
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    error_type: str | None
    error_message: str | None
    input: Any
    output: Any
    attributes: dict[str, Any]
    children: list[ActionNode]


class ExecutionDetail(ExecutionSummary):
    """One execution with its input, output, metadata and its actions as a tree."""

    input: Any
    output: Any
    metadata: dict[str, Any]
    trace_id: str | None
    actions: list[ActionNode]
