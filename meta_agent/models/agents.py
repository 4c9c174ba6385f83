"""The agent registry: agents, their dependencies, and prompt versions (migration 0002)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import JsonObject, Name, TableModel

AgentKind = Literal["writer", "assistant", "classifier", "workflow", "custom"]
AgentStatus = Literal["active", "paused", "archived"]
DependencyKind = Literal["calls", "feeds", "triggers"]
PromptVersionStatus = Literal[
    "draft", "candidate", "shadow", "canary", "active", "retired", "rolled_back"
]
PromptVersionSource = Literal["manual", "proposal", "import"]


class Agent(TableModel):
    __table__ = "public.agents"

    agent_id: uuid.UUID
    tenant_id: uuid.UUID
    name: Name
    kind: AgentKind = "custom"
    owner: str | None = None
    description: str = ""
    config: JsonObject = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    status: AgentStatus = "active"
    # latency SLA used by health evaluation; sla_definitions hold the full contract
    sla_p95_ms: int | None = Field(default=None, gt=0)
    current_prompt_version_id: uuid.UUID | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    archived_at: AwareDatetime | None = None


class AgentDependency(TableModel):
    """An edge of the agent graph: the upstream agent calls, feeds or triggers the downstream."""

    __table__ = "public.agent_dependencies"

    tenant_id: uuid.UUID
    upstream_agent_id: uuid.UUID
    downstream_agent_id: uuid.UUID
    kind: DependencyKind = "calls"
    description: str = ""
    created_at: AwareDatetime


class PromptVersion(TableModel):
    __table__ = "public.prompt_versions"

    prompt_version_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    version: int = Field(gt=0)
    parent_version_id: uuid.UUID | None = None
    template: str
    variables: list[str] = Field(default_factory=list)
    model: str | None = None
    parameters: JsonObject = Field(default_factory=dict)
    author: str | None = None
    change_summary: str = ""
    status: PromptVersionStatus = "draft"
    # a person, or the proposal that generated it
    source: PromptVersionSource = "manual"
    created_at: AwareDatetime
    updated_at: AwareDatetime
