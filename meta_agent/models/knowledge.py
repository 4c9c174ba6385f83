"""What the closed loop learns, and the reusable prompt components (migration 0006)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import Embedding, JsonObject, Name, TableModel

LearningSourceKind = Literal[
    "ab_test",
    "canary_deployment",
    "shadow_test",
    "root_cause_analysis",
    "improvement_proposal",
    "evaluation_report",
    "manual",
]
PromptComponentKind = Literal["system", "instruction", "example", "guardrail", "format"]


class Learning(TableModel):
    """A lesson later proposals cite; source_id names a row of the table source_kind names."""

    __table__ = "public.learnings"

    learning_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None = None
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    source_kind: LearningSourceKind
    source_id: uuid.UUID | None = None
    evidence: JsonObject = Field(default_factory=dict)
    created_by: Name
    embedding: Embedding | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class PromptLibraryComponent(TableModel):
    """One component per name; an edit replaces the body and bumps the version."""

    __table__ = "public.prompt_library_components"

    prompt_library_component_id: uuid.UUID
    tenant_id: uuid.UUID
    name: Name
    kind: PromptComponentKind
    body: str = Field(min_length=1)
    version: int = Field(default=1, gt=0)
    tags: list[str] = Field(default_factory=list)
    usage_count: int = Field(default=0, ge=0)
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
