"""/v1/overview: the dashboard's landing numbers in one call."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ReadSession
from api.schemas.overview import AgentCounts, Overview

router = APIRouter(tags=["overview"])

# One round trip; the 24-hour window uses the (tenant_id, started_at) index.
_OVERVIEW = """
with agent_counts as (
    select count(*) as total,
           count(*) filter (where status = 'active') as active,
           count(*) filter (where status = 'paused') as paused,
           count(*) filter (where status = 'archived') as archived
    from agents
), last_24h as (
    -- the start of the UTC day always lies inside the last 24 hours: one scan serves both
    select count(*) as executions,
           count(*) filter (where status in ('failure', 'timeout')) as failures,
           coalesce(sum(cost_usd) filter (
               where started_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'
           ), 0) as cost_today
    from raw.executions
    where started_at >= now() - interval '24 hours' and started_at <= now()
)
select a.total, a.active, a.paused, a.archived, l.executions, l.failures, l.cost_today,
       now() as as_of
from agent_counts a, last_24h l
"""


@router.get("/overview", response_model=Overview, summary="Landing numbers for the dashboard")
async def overview(session: ReadSession) -> Overview:
    row = await (await session.conn.execute(_OVERVIEW)).fetchone()
    assert row is not None
    executions, failures = row["executions"], row["failures"]
    return Overview(
        agents=AgentCounts.model_validate(row),
        executions_24h=executions,
        failures_24h=failures,
        success_rate_24h=(executions - failures) / executions if executions else None,
        cost_today_usd=row["cost_today"],
        as_of=row["as_of"],
    )
