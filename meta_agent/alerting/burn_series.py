"""The counts the burn-rate rules read, per SLA in force, from Postgres.

A window is the half-open interval [now - window, now) of execution start times, the clock the
hourly rollups file executions by. Whole hours come from `raw.agent_execution_hourly`
(migration 0017); the partial hours at a window's two edges, and the short windows that fit in
less than an hour, come from raw rows through the (tenant_id, started_at) index. So one
evaluation of a tenant reads at most 72 rollup rows per agent and about two hours of raw rows,
whatever the agents' traffic over three days.

Only current definitions (`effective_to is null`) are in force, and an agent answers to one,
as the SLA mart (`marts.sla_daily_compliance`) takes it: its own, else the tenant-wide one
(NULL agent; one of each is current at most). A tenant-wide SLA is thus each agent's without
one of its own, judged on that agent's executions alone (summed over the tenant, one failing
agent among many would never burn its budget, and the alert would name no agent). An agent
whose SLA sets no success-rate target has no budget to burn.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from meta_agent.alerting.burn_rate import DEFAULT_RULES, WindowCounts, windows_of
from meta_agent.db import Database

HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class BurnInput:
    """One SLA in force and its counts per window (seconds → counts)."""

    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    sla_definition_id: uuid.UUID
    sla_name: str
    error_budget: float
    counts: Mapping[int, WindowCounts]


# every current definition, the agents' own first (at most one per agent and one tenant-wide:
# sla_definitions_current_key)
_SLAS_IN_FORCE = """
select sla_definition_id, agent_id, name, target_success_rate is not null as burns,
       coalesce(error_budget, 1 - target_success_rate) as error_budget
from sla_definitions
where tenant_id = %s and effective_to is null
order by agent_id is null, sla_definition_id
"""

# one index range per window, from each window's first whole hour to the current hour
_WHOLE_HOURS = """
select w.window_s, h.agent_id,
       sum(h.executions)::bigint as executions, sum(h.failures)::bigint as failures
from unnest(%(windows)s::int[], %(firsts)s::timestamptz[]) as w (window_s, first_hour)
join raw.agent_execution_hourly as h
    on h.hour >= w.first_hour and h.hour < %(current_hour)s
where h.tenant_id = %(tenant)s and (%(all_agents)s or h.agent_id = any(%(agents)s))
group by 1, 2
"""

# one index range per distinct edge; LATERAL so each range prunes to its day's partition
_EDGES = """
select r.n, e.agent_id, e.executions, e.failures
from unnest(%(los)s::timestamptz[], %(his)s::timestamptz[]) with ordinality as r (lo, hi, n)
cross join lateral (
    select x.agent_id,
           count(*) as executions,
           count(*) filter (where x.status in ('failure', 'timeout')) as failures
    from raw.executions as x
    where x.tenant_id = %(tenant)s and x.started_at >= r.lo and x.started_at < r.hi
      and x.status in ('success', 'failure', 'timeout')
      and (%(all_agents)s or x.agent_id = any(%(agents)s))
    group by x.agent_id
) as e
"""


async def tenants_with_slas(db: Database) -> list[uuid.UUID]:
    """Tenants with a success-rate SLA in force: the only ones `load_burn_inputs` has work for.

    Works as the app role, which cannot see across tenants, through the SECURITY DEFINER
    function `app.tenants_with_success_rate_slas()`.
    """
    async with db.transaction() as conn:
        cursor = await conn.execute("select t from app.tenants_with_success_rate_slas() as t")
        return sorted(row["t"] for row in await cursor.fetchall())


def window_parts(
    now: dt.datetime, window_s: int
) -> tuple[dt.datetime, list[tuple[dt.datetime, dt.datetime]]]:
    """Split [now - window, now) into whole rollup hours (from the returned first hour up to
    the hour of `now`) and the raw-row ranges left at its edges."""
    start = now - dt.timedelta(seconds=window_s)
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    if first_hour < start:
        first_hour += HOUR
    if first_hour >= current_hour:  # no whole hour inside: all raw
        return current_hour, [(start, now)]
    edges = [(lo, hi) for lo, hi in ((start, first_hour), (current_hour, now)) if lo < hi]
    return first_hour, edges


async def load_burn_inputs(
    db: Database,
    tenant_id: uuid.UUID,
    now: dt.datetime,
    windows_s: Iterable[int] = windows_of(DEFAULT_RULES),
) -> list[BurnInput]:
    """Every success-rate SLA of `tenant_id` in force, with its counts over `windows_s`
    ending at `now` (timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.UTC)
    windows = tuple(windows_s)
    parts = {w: window_parts(now, w) for w in windows}
    edges = sorted({edge for _, window_edges in parts.values() for edge in window_edges})
    per_agent: dict[tuple[int, uuid.UUID], list[int]] = defaultdict(lambda: [0, 0])

    async with db.tenant_transaction(tenant_id) as conn:
        cursor = await conn.execute(_SLAS_IN_FORCE, (tenant_id,))
        slas = await cursor.fetchall()
        own: dict[uuid.UUID, Any] = {s["agent_id"]: s for s in slas if s["agent_id"] is not None}
        wide = next((sla for sla in slas if sla["agent_id"] is None), None)
        if wide is not None and not wide["burns"]:
            wide = None
        if wide is None and not any(sla["burns"] for sla in own.values()):
            return []
        scope = {
            "tenant": tenant_id,
            "all_agents": wide is not None,
            "agents": [agent for agent, sla in own.items() if sla["burns"]],
        }
        cursor = await conn.execute(
            _WHOLE_HOURS,
            {
                **scope,
                "windows": list(windows),
                "firsts": [parts[w][0] for w in windows],
                "current_hour": now.replace(minute=0, second=0, microsecond=0),
            },
        )
        for row in await cursor.fetchall():
            _add(per_agent[(row["window_s"], row["agent_id"])], row["executions"], row["failures"])
        if edges:
            cursor = await conn.execute(
                _EDGES, {**scope, "los": [lo for lo, _ in edges], "his": [hi for _, hi in edges]}
            )
            edge_rows = await cursor.fetchall()
        else:
            edge_rows = []

    index_of = {edge: n for n, edge in enumerate(edges, start=1)}
    for window_s, (_, window_edges) in parts.items():
        wanted = {index_of[edge] for edge in window_edges}
        for row in edge_rows:
            if row["n"] in wanted:
                _add(per_agent[(window_s, row["agent_id"])], row["executions"], row["failures"])

    # each agent's SLA: its own, or the tenant-wide one for an agent with executions to judge
    governing = {agent: sla for agent, sla in own.items() if sla["burns"]}
    if wide is not None:
        for _, agent in per_agent:
            if agent not in own:
                governing[agent] = wide
    return [
        BurnInput(
            tenant_id=tenant_id,
            agent_id=agent,
            sla_definition_id=sla["sla_definition_id"],
            sla_name=sla["name"],
            error_budget=sla["error_budget"],
            counts={w: _counts(per_agent, w, agent) for w in windows},
        )
        for agent, sla in sorted(governing.items(), key=lambda item: str(item[0]))
    ]


def _add(total: list[int], executions: int, failures: int) -> None:
    total[0] += executions
    total[1] += failures


def _counts(
    per_agent: Mapping[tuple[int, uuid.UUID], list[int]], window_s: int, agent: uuid.UUID
) -> WindowCounts:
    """One agent's counts over one window (none: no executions)."""
    executions, failures = per_agent.get((window_s, agent), (0, 0))
    return WindowCounts(executions, failures)
