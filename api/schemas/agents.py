"""Agents, their dependency edges and the dependency graph."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field

from api.schemas.common import (
    JSON_INTEGER,
    JsonObject,
    LongText,
    Name,
    Omittable,
    ReadModel,
    Tag,
    WriteModel,
)

AgentKind = Literal["writer", "assistant", "classifier", "workflow", "custom"]
AgentStatus = Literal["active", "paused", "archived"]
DependencyKind = Literal["calls", "feeds", "triggers"]
SlaMs = Annotated[int, Field(gt=0, le=86_400_000), JSON_INTEGER]


class AgentCreate(WriteModel):
    name: Name = Field(examples=["content-writer"])
    kind: AgentKind = "custom"
    owner: Name | None = Field(default=None, examples=["growth-team"])
    description: LongText = ""
    config: JsonObject = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list, max_length=50, examples=[["content", "blog"]])
    sla_p95_ms: SlaMs | None = Field(default=None, examples=[30_000])


class AgentUpdate(WriteModel):
    """Fields to change; those left out stay as they are. Null clears `owner` or `sla_p95_ms`."""

    name: Omittable[Name] = None
    kind: Omittable[AgentKind] = None
    owner: Name | None = None
    description: Omittable[LongText] = None
    config: Omittable[JsonObject] = None
    tags: Omittable[Annotated[list[Tag], Field(max_length=50)]] = None
    status: Omittable[Literal["active", "paused"]] = Field(
        default=None, description="Archive with POST /v1/agents/{agent_id}/archive."
    )
    sla_p95_ms: SlaMs | None = None


class Agent(ReadModel):
    agent_id: uuid.UUID
    name: str
    kind: AgentKind
    owner: str | None
    description: str
    config: dict[str, Any]
    tags: list[str]
    status: AgentStatus
    sla_p95_ms: int | None
    current_prompt_version_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    archived_at: dt.datetime | None


class DependencyCreate(WriteModel):
    downstream_agent_id: uuid.UUID
    kind: DependencyKind = "calls"
    description: LongText = ""


class Dependency(ReadModel):
    upstream_agent_id: uuid.UUID
    downstream_agent_id: uuid.UUID
    kind: DependencyKind
    description: str
    created_at: dt.datetime


class GraphNode(ReadModel):
    agent_id: uuid.UUID
    name: str
    kind: AgentKind
    status: AgentStatus


class AgentGraph(ReadModel):
    """The tenant's agents and who calls, feeds or triggers whom."""

    nodes: list[GraphNode]
    edges: list[Dependency]
