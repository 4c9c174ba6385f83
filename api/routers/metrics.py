"""Warehouse reads: an agent's daily metrics, the error distribution and LLM costs.

The numbers are the dbt marts' (built daily for the previous UTC day), not recomputed here.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import ReadSession
from api.queries import metrics as queries
from api.schemas.metrics import (
    WAREHOUSE_RESPONSES,
    AgentDailyMetrics,
    CostBreakdown,
    CostDimension,
    CostGroup,
    DailyMetrics,
    DateRange,
    ErrorDimension,
    ErrorDistribution,
    ErrorGroup,
    date_range,
)

router = APIRouter(tags=["metrics"], responses=WAREHOUSE_RESPONSES)

DaysDep = Annotated[DateRange, Depends(date_range)]
AgentFilter = Annotated[
    uuid.UUID | None, Query(description="Only this agent (another tenant's matches nothing).")
]


@router.get(
    "/agents/{agent_id:uuid}/metrics/daily",
    response_model=AgentDailyMetrics,
    summary="An agent's daily metrics over a range of days",
)
async def agent_daily_metrics(
    agent_id: uuid.UUID, session: ReadSession, days: DaysDep
) -> AgentDailyMetrics:
    agent, rows = await queries.agent_daily_metrics(session.conn, agent_id=agent_id, days=days)
    return AgentDailyMetrics.model_validate(
        {
            "agent_id": agent["agent_id"],
            "agent_name": agent["name"],
            "from": days.first,
            "to": days.last,
            "items": [DailyMetrics.model_validate(r) for r in rows],
        }
    )


@router.get(
    "/metrics/errors",
    response_model=ErrorDistribution,
    summary="What failed executions failed with, by error type, cause, agent or day",
)
async def error_distribution(
    session: ReadSession,
    days: DaysDep,
    agent_id: AgentFilter = None,
    group_by: Annotated[
        list[ErrorDimension] | None,
        Query(max_length=4, description="Repeatable. Default: error_type."),
    ] = None,
) -> ErrorDistribution:
    dimensions = list(dict.fromkeys(group_by or ["error_type"]))
    rows = await queries.error_distribution(
        session.conn, days=days, agent_id=agent_id, group_by=dimensions
    )
    return ErrorDistribution.model_validate(
        {
            "from": days.first,
            "to": days.last,
            "group_by": dimensions,
            "failure_count": sum(r["failure_count"] for r in rows),
            "items": [ErrorGroup.model_validate(r) for r in rows],
        }
    )


@router.get(
    "/metrics/costs",
    response_model=CostBreakdown,
    summary="LLM spend by agent, model or day",
)
async def cost_breakdown(
    session: ReadSession,
    days: DaysDep,
    agent_id: AgentFilter = None,
    group_by: Annotated[
        list[CostDimension] | None,
        Query(max_length=3, description="Repeatable, e.g. day and model. Default: day."),
    ] = None,
) -> CostBreakdown:
    dimensions = list(dict.fromkeys(group_by or ["day"]))
    rows = await queries.cost_breakdown(
        session.conn, days=days, agent_id=agent_id, group_by=dimensions
    )
    return CostBreakdown.model_validate(
        {
            "from": days.first,
            "to": days.last,
            "group_by": dimensions,
            "cost_usd": sum((r["cost_usd"] for r in rows), start=Decimal(0)),
            "items": [CostGroup.model_validate(r) for r in rows],
        }
    )
