"""/v1/agents: the registry, dependency edges and the dependency graph."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ReadSession, WriteSession
from api.queries import agents as queries
from api.schemas.agents import (
    Agent,
    AgentCreate,
    AgentGraph,
    AgentKind,
    AgentStatus,
    AgentUpdate,
    Dependency,
    DependencyCreate,
)
from api.schemas.common import Name, Page, PageLimit, Tag, Text

router = APIRouter(prefix="/agents", tags=["agents"])


@router.post("", status_code=201, response_model=Agent, summary="Register an agent")
async def create_agent(body: AgentCreate, session: WriteSession) -> Agent:
    row = await queries.create_agent(
        session.conn, tenant_id=session.tenant_id, fields=body.model_dump()
    )
    return Agent.model_validate(row)


@router.get("", response_model=Page[Agent], summary="List agents")
async def list_agents(
    session: ReadSession,
    status: Annotated[AgentStatus | None, Query(description="Default: all but archived.")] = None,
    kind: AgentKind | None = None,
    tag: Tag | None = None,
    owner: Name | None = None,
    q: Annotated[Text | None, Query(max_length=200, description="Name contains.")] = None,
    limit: PageLimit = 50,
    cursor: Annotated[Text | None, Query(max_length=1000)] = None,
) -> Page[Agent]:
    rows, next_cursor = await queries.list_agents(
        session.conn, status=status, kind=kind, tag=tag, owner=owner, search=q,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    return Page(items=[Agent.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/graph", response_model=AgentGraph, summary="The agent dependency graph")
async def agent_graph(session: ReadSession) -> AgentGraph:
    return AgentGraph.model_validate(await queries.dependency_graph(session.conn))


@router.get("/{agent_id:uuid}", response_model=Agent, summary="Get an agent")
async def get_agent(agent_id: uuid.UUID, session: ReadSession) -> Agent:
    return Agent.model_validate(await queries.get_agent(session.conn, agent_id=agent_id))


@router.patch("/{agent_id:uuid}", response_model=Agent, summary="Change an agent")
async def update_agent(agent_id: uuid.UUID, body: AgentUpdate, session: WriteSession) -> Agent:
    changes = body.model_dump(exclude_unset=True)
    row = await queries.update_agent(session.conn, agent_id=agent_id, changes=changes)
    return Agent.model_validate(row)


@router.post("/{agent_id:uuid}/archive", response_model=Agent, summary="Archive an agent")
async def archive_agent(agent_id: uuid.UUID, session: WriteSession) -> Agent:
    return Agent.model_validate(await queries.archive_agent(session.conn, agent_id=agent_id))


@router.get(
    "/{agent_id:uuid}/dependencies",
    response_model=list[Dependency],
    summary="Edges into and out of an agent",
)
async def list_dependencies(agent_id: uuid.UUID, session: ReadSession) -> list[Dependency]:
    rows = await queries.list_dependencies(session.conn, agent_id=agent_id)
    return [Dependency.model_validate(r) for r in rows]


@router.post(
    "/{agent_id:uuid}/dependencies",
    status_code=201,
    response_model=Dependency,
    summary="Declare that this agent calls, feeds or triggers another",
)
async def add_dependency(
    agent_id: uuid.UUID, body: DependencyCreate, session: WriteSession
) -> Dependency:
    row = await queries.add_dependency(
        session.conn,
        tenant_id=session.tenant_id,
        upstream_agent_id=agent_id,
        downstream_agent_id=body.downstream_agent_id,
        kind=body.kind,
        description=body.description,
    )
    return Dependency.model_validate(row)


@router.delete(
    "/{agent_id:uuid}/dependencies/{downstream_agent_id:uuid}",
    status_code=204,
    summary="Remove a dependency edge",
)
async def remove_dependency(
    agent_id: uuid.UUID, downstream_agent_id: uuid.UUID, session: WriteSession
) -> Response:
    await queries.remove_dependency(
        session.conn, upstream_agent_id=agent_id, downstream_agent_id=downstream_agent_id
    )
    return Response(status_code=204)
