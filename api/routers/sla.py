"""/v1/sla-definitions (targets per agent or tenant-wide) and /v1/sla/reports (compliance
by day, ISO week or calendar month, with breach trends)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import ReadSession, Session, WriteSession
from api.queries import sla as queries
from api.schemas.common import Page, PageLimit, Text
from api.schemas.metrics import WAREHOUSE_RESPONSES, DateRange, date_range
from api.schemas.sla import (
    DailyCompliance,
    SlaCompliance,
    SlaDefinition,
    SlaDefinitionCreate,
    SlaDefinitionUpdate,
    SlaPeriod,
    SlaReport,
    SlaReportItem,
)

router = APIRouter(tags=["sla"])

DaysDep = Annotated[DateRange, Depends(date_range)]
_DEFINITION = "/sla-definitions/{sla_definition_id:uuid}"


def _author(session: Session) -> str:
    return f"key:{session.principal.api_key_id}"


@router.post(
    "/sla-definitions",
    status_code=201,
    response_model=SlaDefinition,
    summary="Define an SLA for an agent, or the tenant-wide default",
)
async def create_sla_definition(body: SlaDefinitionCreate, session: WriteSession) -> SlaDefinition:
    row = await queries.create_definition(
        session.conn,
        tenant_id=session.tenant_id,
        fields=body.model_dump(),
        created_by=_author(session),
    )
    return SlaDefinition.model_validate(row)


@router.get("/sla-definitions", response_model=Page[SlaDefinition], summary="List SLA definitions")
async def list_sla_definitions(
    session: ReadSession,
    agent_id: Annotated[uuid.UUID | None, Query(description="Only this agent's.")] = None,
    include_retired: Annotated[
        bool, Query(description="Also those changed or retired (the history).")
    ] = False,
    limit: PageLimit = 50,
    cursor: Annotated[Text | None, Query(max_length=1000)] = None,
) -> Page[SlaDefinition]:
    rows, next_cursor = await queries.list_definitions(
        session.conn, agent_id=agent_id, include_retired=include_retired, limit=limit,
        cursor=cursor,
    )  # fmt: skip
    return Page(items=[SlaDefinition.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(_DEFINITION, response_model=SlaDefinition, summary="Get an SLA definition")
async def get_sla_definition(sla_definition_id: uuid.UUID, session: ReadSession) -> SlaDefinition:
    row = await queries.get_definition(session.conn, sla_definition_id=sla_definition_id)
    return SlaDefinition.model_validate(row)


@router.patch(
    _DEFINITION,
    response_model=SlaDefinition,
    summary="Change an SLA definition: it is closed and its successor returned",
    description=(
        "Days already judged keep the targets they were judged against: the definition is"
        " closed now (`effective_to`) and a successor with the changes (a new id) takes over."
        " A definition already changed or retired cannot be changed (409)."
    ),
)
async def change_sla_definition(
    sla_definition_id: uuid.UUID, body: SlaDefinitionUpdate, session: WriteSession
) -> SlaDefinition:
    row = await queries.change_definition(
        session.conn,
        sla_definition_id=sla_definition_id,
        changes=body.model_dump(exclude_unset=True),
        created_by=_author(session),
    )
    return SlaDefinition.model_validate(row)


@router.delete(
    _DEFINITION,
    status_code=204,
    summary="Retire an SLA definition",
    description=(
        "It stops applying from now on; it stays readable, and past days stay judged against"
        " it. Retiring a retired definition changes nothing."
    ),
)
async def retire_sla_definition(sla_definition_id: uuid.UUID, session: WriteSession) -> Response:
    await queries.retire_definition(session.conn, sla_definition_id=sla_definition_id)
    return Response(status_code=204)


@router.get(
    _DEFINITION + "/compliance",
    response_model=SlaCompliance,
    responses=WAREHOUSE_RESPONSES,
    summary="Each agent's days judged against this SLA definition",
)
async def sla_compliance(
    sla_definition_id: uuid.UUID,
    session: ReadSession,
    days: DaysDep,
    agent_id: Annotated[uuid.UUID | None, Query(description="Only this agent's days.")] = None,
) -> SlaCompliance:
    rows = await queries.daily_compliance(
        session.conn, sla_definition_id=sla_definition_id, days=days, agent_id=agent_id
    )
    return SlaCompliance.model_validate(
        {
            "sla_definition_id": sla_definition_id,
            "from": days.first,
            "to": days.last,
            "items": [DailyCompliance.model_validate(r) for r in rows],
        }
    )


@router.get(
    "/sla/reports",
    response_model=SlaReport,
    responses=WAREHOUSE_RESPONSES,
    summary="SLA compliance by day, ISO week or calendar month, with breach trends",
)
async def sla_report(
    session: ReadSession,
    days: DaysDep,
    period: Annotated[SlaPeriod, Query(description="Rows per day, week or month.")] = "daily",
    agent_id: Annotated[uuid.UUID | None, Query(description="Only this agent.")] = None,
) -> SlaReport:
    rows = await queries.report(session.conn, period=period, days=days, agent_id=agent_id)
    return SlaReport.model_validate(
        {
            "from": days.first,
            "to": days.last,
            "period": period,
            "items": [SlaReportItem.model_validate(r) for r in rows],
        }
    )
