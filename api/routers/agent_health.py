"""Agent health: one agent's (`/v1/agents/{id}/health`), its transitions and thresholds, and
the whole fleet's (`/v1/health`). Live changes arrive on the WebSocket (`/v1/ws`).

The realtime worker writes the rows; these routes only read them, except the thresholds,
which the worker reads back (it caches an agent's for up to 30 s).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.deps import ReadSession, WriteSession
from api.queries import agent_health as queries
from api.schemas.agent_health import (
    AgentHealth,
    FleetHealth,
    HealthCounts,
    HealthThresholds,
    HealthTransition,
    ThresholdOverrides,
)
from api.schemas.common import Page, PageLimit, Text
from meta_agent.models.realtime import HealthState

router = APIRouter(tags=["agent health"])

_AGENT = "/agents/{agent_id:uuid}/health"
Cursor = Annotated[Text | None, Query(max_length=1000)]


def stale_after_s(request: Request) -> float:
    """The app's staleness limit (`METAAGENT_HEALTH_STALE_AFTER_S`)."""
    return float(request.app.state.settings.health_stale_after_s)


StaleAfter = Annotated[float, Depends(stale_after_s)]


@router.get(_AGENT, response_model=AgentHealth, summary="An agent's current health")
async def get_agent_health(
    agent_id: uuid.UUID, session: ReadSession, stale_after: StaleAfter
) -> AgentHealth:
    row = await queries.agent_health(session.conn, agent_id=agent_id, stale_after_s=stale_after)
    return AgentHealth.model_validate(row)


@router.get(
    f"{_AGENT}/transitions",
    response_model=Page[HealthTransition],
    summary="An agent's health transitions, newest first",
)
async def list_health_transitions(
    agent_id: uuid.UUID, session: ReadSession, limit: PageLimit = 50, cursor: Cursor = None
) -> Page[HealthTransition]:
    rows, next_cursor = await queries.list_transitions(
        session.conn, agent_id=agent_id, limit=limit, cursor=cursor
    )
    return Page(items=[HealthTransition.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/health",
    response_model=FleetHealth,
    summary="Every agent's health (archived ones left out), with counts by state",
)
async def fleet_health(
    session: ReadSession,
    stale_after: StaleAfter,
    state: Annotated[HealthState | None, Query(description="Only agents in this state.")] = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> FleetHealth:
    rows, next_cursor, counts, as_of = await queries.fleet_health(
        session.conn, state=state, stale_after_s=stale_after, limit=limit, cursor=cursor
    )
    return FleetHealth(
        items=[AgentHealth.model_validate(r) for r in rows],
        next_cursor=next_cursor,
        counts=HealthCounts.model_validate(counts),
        stale_after_s=stale_after,
        as_of=as_of,
    )


@router.get(
    f"{_AGENT}/thresholds",
    response_model=HealthThresholds,
    summary="An agent's health threshold overrides",
)
async def get_health_thresholds(agent_id: uuid.UUID, session: ReadSession) -> HealthThresholds:
    row = await queries.get_thresholds(session.conn, agent_id=agent_id)
    return HealthThresholds.model_validate(row)


@router.put(
    f"{_AGENT}/thresholds",
    response_model=HealthThresholds,
    summary="Replace an agent's health threshold overrides",
    description="Every override is replaced: one left out or null returns to the realtime"
    " default. The realtime worker re-reads an agent's thresholds at least every 30 s.",
)
async def put_health_thresholds(
    agent_id: uuid.UUID, body: ThresholdOverrides, session: WriteSession
) -> HealthThresholds:
    row = await queries.put_thresholds(
        session.conn,
        tenant_id=session.tenant_id,
        agent_id=agent_id,
        overrides=body.model_dump(),
        updated_by=f"key:{session.principal.api_key_id}",
    )
    return HealthThresholds.model_validate(row)
