"""/v1/executions: filtered, keyset-paginated history, and one execution as a trace tree."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReadSession
from api.errors import ApiError
from api.queries import executions as queries
from api.schemas.common import Name, Page, PageLimit, Text
from api.schemas.executions import ExecutionDetail, ExecutionStatus, ExecutionSummary

router = APIRouter(prefix="/executions", tags=["executions"])


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(422, f"{name} needs a time zone, e.g. 2026-01-01T00:00:00Z")
    return value


@router.get("", response_model=Page[ExecutionSummary], summary="List executions, newest first")
async def list_executions(
    session: ReadSession,
    agent_id: uuid.UUID | None = None,
    status: ExecutionStatus | None = None,
    since: Annotated[
        dt.datetime | None, Query(description="Started at or after (ISO 8601).")
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="Started before (ISO 8601).")] = None,
    prompt_version_id: uuid.UUID | None = None,
    variant: Name | None = None,
    error_type: Name | None = None,
    session_id: Name | None = None,
    limit: PageLimit = 50,
    cursor: Annotated[Text | None, Query(max_length=1000)] = None,
) -> Page[ExecutionSummary]:
    since, until = _aware(since, "since"), _aware(until, "until")
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
    "/{execution_id}",
    response_model=ExecutionDetail,
    summary="One execution with its actions as a tree",
)
async def get_execution(execution_id: uuid.UUID, session: ReadSession) -> ExecutionDetail:
    row = await queries.get_execution(session.conn, execution_id=execution_id)
    return ExecutionDetail.model_validate(row)
