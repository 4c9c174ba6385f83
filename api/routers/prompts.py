"""Prompt versions: /v1/agents/{agent_id}/prompt-versions and /v1/prompt-versions/{id}."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadSession, WriteSession
from api.queries import prompts as queries
from api.schemas.common import Page, PageLimit, Text
from api.schemas.prompts import PromptDiff, PromptVersion, PromptVersionCreate

router = APIRouter(tags=["prompt versions"])


@router.post(
    "/agents/{agent_id:uuid}/prompt-versions",
    status_code=201,
    response_model=PromptVersion,
    summary="Create the next prompt version of an agent",
)
async def create_version(
    agent_id: uuid.UUID, body: PromptVersionCreate, session: WriteSession
) -> PromptVersion:
    row = await queries.create_version(
        session.conn, tenant_id=session.tenant_id, agent_id=agent_id, fields=body.model_dump()
    )
    return PromptVersion.model_validate(row)


@router.get(
    "/agents/{agent_id:uuid}/prompt-versions",
    response_model=Page[PromptVersion],
    summary="List an agent's prompt versions, newest first",
)
async def list_versions(
    agent_id: uuid.UUID,
    session: ReadSession,
    limit: PageLimit = 50,
    cursor: Annotated[Text | None, Query(max_length=1000)] = None,
) -> Page[PromptVersion]:
    rows, next_cursor = await queries.list_versions(
        session.conn, agent_id=agent_id, limit=limit, cursor=cursor
    )
    return Page(items=[PromptVersion.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/agents/{agent_id:uuid}/prompt-versions/{prompt_version_id:uuid}/current",
    response_model=PromptVersion,
    summary="Make a version the agent's current one",
)
async def set_current(
    agent_id: uuid.UUID, prompt_version_id: uuid.UUID, session: WriteSession
) -> PromptVersion:
    row = await queries.set_current(
        session.conn, agent_id=agent_id, prompt_version_id=prompt_version_id
    )
    return PromptVersion.model_validate(row)


@router.get(
    "/prompt-versions/{prompt_version_id:uuid}",
    response_model=PromptVersion,
    summary="Get a prompt version",
)
async def get_version(prompt_version_id: uuid.UUID, session: ReadSession) -> PromptVersion:
    row = await queries.get_version(session.conn, prompt_version_id=prompt_version_id)
    return PromptVersion.model_validate(row)


@router.get(
    "/prompt-versions/{prompt_version_id:uuid}/diff",
    response_model=PromptDiff,
    summary="Diff a version against another",
)
async def diff_versions(
    prompt_version_id: uuid.UUID,
    session: ReadSession,
    against: Annotated[uuid.UUID, Query(description="The version to compare with (the base).")],
) -> PromptDiff:
    row = await queries.diff_versions(session.conn, base_id=against, target_id=prompt_version_id)
    return PromptDiff.model_validate(row)
