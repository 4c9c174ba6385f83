"""/v1/overview: the dashboard's landing numbers in one call."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter

from api.deps import ReadSession
from api.schemas.overview import AgentCounts, Overview

router = APIRouter(tags=["overview"])

# One round trip. Whole hours come from the hourly rollup (migration 0012); raw rows are read
# only for the part of the oldest hour inside the window, and to take out rows stamped later
# than now in the current hour (an agent whose clock runs ahead). Both use the
# (tenant_id, started_at) index. The start of the UTC day lies inside the last 24 hours.
_OVERVIEW = """
with agent_counts as (
    select count(*) as total,
           count(*) filter (where status = 'active') as active,
           count(*) filter (where status = 'paused') as paused,
           count(*) filter (where status = 'archived') as archived
    from agents
), parts as (
    select sum(executions) as executions, sum(failures) as failures,
           coalesce(sum(cost_usd) filter (where hour >= %(today)s), 0) as cost_today
    from raw.execution_hourly
    where hour >= %(first_whole_hour)s and hour <= %(this_hour)s
    union all
    select count(*), count(*) filter (where status in ('failure', 'timeout')), 0
    from raw.executions
    where started_at >= %(since)s and started_at < %(first_whole_hour)s
    union all
    select -count(*), -count(*) filter (where status in ('failure', 'timeout')),
           -coalesce(sum(cost_usd), 0)
    from raw.executions
    where started_at > %(as_of)s and started_at < %(next_hour)s
), last_24h as (
    select coalesce(sum(executions), 0) as executions, coalesce(sum(failures), 0) as failures,
           sum(cost_today) as cost_today
    from parts
)
select a.total, a.active, a.paused, a.archived, l.executions, l.failures, l.cost_today
from agent_counts a, last_24h l
"""


def window_bounds(as_of: dt.datetime) -> dict[str, dt.datetime]:
    """The instants that cut the last 24 hours into whole rollup hours and raw edges."""
    hour = dt.timedelta(hours=1)
    since = as_of - dt.timedelta(hours=24)
    since_hour = since.replace(minute=0, second=0, microsecond=0)
    this_hour = as_of.replace(minute=0, second=0, microsecond=0)
    return {
        "as_of": as_of,
        "since": since,
        "first_whole_hour": since_hour if since_hour == since else since_hour + hour,
        "this_hour": this_hour,
        "next_hour": this_hour + hour,
        "today": as_of.replace(hour=0, minute=0, second=0, microsecond=0),
    }


@router.get("/overview", response_model=Overview, summary="Landing numbers for the dashboard")
async def overview(session: ReadSession) -> Overview:
    as_of = dt.datetime.now(dt.UTC)
    row = await (await session.conn.execute(_OVERVIEW, window_bounds(as_of))).fetchone()
    assert row is not None
    executions, failures = row["executions"], row["failures"]
    return Overview(
        agents=AgentCounts.model_validate(row),
        executions_24h=executions,
        failures_24h=failures,
        success_rate_24h=(executions - failures) / executions if executions else None,
        cost_today_usd=row["cost_today"],
        as_of=as_of,
    )
