"""/v1/executions: filtered, keyset-paginated history, and one execution as a trace tree."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadSession
from api.queries import executions as queries
from api.schemas.common import Name, Page, PageLimit, Text, Timestamp
from api.schemas.executions import ExecutionDetail, ExecutionStatus, ExecutionSummary

router = APIRouter(prefix="/executions", tags=["executions"])


@router.get("", response_model=Page[ExecutionSummary], summary="List executions, newest first")
async def list_executions(
    session: ReadSession,
    agent_id: uuid.UUID | None = None,
    status: ExecutionStatus | None = None,
    since: Annotated[
        Timestamp | None, Query(description="Started at or after (ISO 8601, with a time zone).")
    ] = None,
    until: Annotated[
        Timestamp | None, Query(description="Started before (ISO 8601, with a time zone).")
    ] = None,
    prompt_version_id: uuid.UUID | None = None,
    variant: Name | None = None,
    error_type: Name | None = None,
    session_id: Name | None = None,
    limit: PageLimit = 50,
    cursor: Annotated[Text | None, Query(max_length=1000)] = None,
) -> Page[ExecutionSummary]:
    filters = {
        "agent_id": agent_id,
        "status": status,
        "prompt_version_id": prompt_version_id,
        "variant": variant,
        "error_type": error_type,
        "session_id": session_id,
    }
    rows, next_cursor = await queries.list_executions(
        session.conn, filters=filters, since=since, until=until, limit=limit, cursor=cursor
    )
    return Page(items=[ExecutionSummary.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{execution_id:uuid}",
    response_model=ExecutionDetail,
    summary="One execution with its actions as a tree",
)
async def get_execution(execution_id: uuid.UUID, session: ReadSession) -> ExecutionDetail:
    row = await queries.get_execution(session.conn, execution_id=execution_id)
    return ExecutionDetail.model_validate(row)
