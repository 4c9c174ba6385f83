"""Prompt versions: immutable texts, numbered per agent, with a diff between any two."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import Field

from api.schemas.common import JsonObject, LongText, Name, ReadModel, WriteModel

PromptStatus = Literal["draft", "candidate", "shadow", "canary", "active", "retired", "rolled_back"]


class PromptVersionCreate(WriteModel):
    template: LongText = Field(min_length=1, examples=["You are a careful writer. Topic: {topic}"])
    variables: list[Name] = Field(default_factory=list, max_length=100, examples=[["topic"]])
    model: Name | None = Field(default=None, examples=["claude-sonnet-4-5"])
    parameters: JsonObject = Field(default_factory=dict, examples=[{"temperature": 0.3}])
    author: Name | None = None
    change_summary: LongText = ""
    parent_version_id: uuid.UUID | None = Field(
        default=None, description="Default: the agent's current version."
    )


class PromptVersion(ReadModel):
    prompt_version_id: uuid.UUID
    agent_id: uuid.UUID
    version: int
    parent_version_id: uuid.UUID | None
    template: str
    variables: list[str]
    model: str | None
    parameters: dict[str, Any]
    author: str | None
    change_summary: str
    status: PromptStatus
    source: Literal["manual", "proposal", "import"]
    is_current: bool
    created_at: dt.datetime


class FieldChange(ReadModel):
    field: str
    before: Any
    after: Any


class PromptDiff(ReadModel):
    """What changed from `base` to `target`: a unified diff of the template, and other fields."""

    base_version_id: uuid.UUID
    target_version_id: uuid.UUID
    base_version: int
    target_version: int
    template_diff: str
    changes: list[FieldChange]
