"""Agent health queries: the realtime worker's rows, read with the staleness rule, the
transition history, and the threshold overrides.

Staleness is decided in SQL against the database clock (`now()`), the clock the rows are
compared with everywhere else.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from psycopg import sql

from api.deps import Conn
from api.errors import not_found
from api.pagination import decode_cursor, encode_cursor, page_of
from meta_agent.health_thresholds import Thresholds

HEALTH_STATES = ("healthy", "degraded", "critical", "unknown")
_WINDOW_COLUMNS = (
    "executions", "failures", "error_rate",
    "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "cost_usd",
)  # fmt: skip
THRESHOLD_COLUMNS = (
    "error_rate_degraded", "error_rate_critical",
    "p95_sla_multiplier_degraded", "p95_sla_multiplier_critical",
    "consecutive_failures_degraded", "consecutive_failures_critical",
    "silence_minutes", "min_samples", "hysteresis_ratio", "hysteresis_min_seconds",
    "slow_call_ms",
)  # fmt: skip

# `health` is every non-archived agent (or the one asked for) with its row, if any, and
# whether that row is stale; `state` is the effective state.
_HEALTH = """
with health as (
    select a.agent_id, a.name as agent_name, {columns},
           h.evaluated_at < now() - make_interval(secs => %(stale_after_s)s) as is_stale,
           c.state as breaker_state, c.state_changed_at as breaker_changed_at,
           c.open_until as breaker_open_until
    from agents as a
    left join agent_health_realtime as h
        on h.tenant_id = a.tenant_id and h.agent_id = a.agent_id
    left join circuit_breaker_states as c
        on c.tenant_id = a.tenant_id and c.agent_id = a.agent_id
    where {scope}
)
select health.*,
       case when state is null or is_stale then 'unknown' else state end as effective_state
from health
"""


_ROW_COLUMNS = (
    "state", "state_since", "reason", "evaluated_at", "version", "consecutive_failures",
    "last_execution_at", "details",
    *(f"{c}_{w}" for w in ("5m", "1h") for c in _WINDOW_COLUMNS),
)  # fmt: skip


def _health_statement(scope: str) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier("h", c) for c in _ROW_COLUMNS)
    return sql.SQL(_HEALTH).format(columns=columns, scope=sql.SQL(scope))


def shape(row: dict[str, Any]) -> dict[str, Any]:
    """A `_HEALTH` row as the API's AgentHealth."""
    evaluated = row["state"] is not None
    windows = {
        name: {column: row[f"{column}_{suffix}"] for column in _WINDOW_COLUMNS}
        for name, suffix in (("five_minutes", "5m"), ("one_hour", "1h"))
    }
    return {
        "agent_id": row["agent_id"],
        "agent_name": row["agent_name"],
        "state": row["effective_state"],
        "stale": bool(row["is_stale"]),
        "recorded_state": row["state"],
        "state_since": row["state_since"],
        "reason": row["reason"],
        "evaluated_at": row["evaluated_at"],
        "version": row["version"] or 0,
        "five_minutes": windows["five_minutes"] if evaluated else None,
        "one_hour": windows["one_hour"] if evaluated else None,
        "consecutive_failures": row["consecutive_failures"],
        "last_execution_at": row["last_execution_at"],
        "details": row["details"] or {},
        "circuit_breaker": {
            "state": row["breaker_state"] or "closed",
            "state_changed_at": row["breaker_changed_at"],
            "open_until": row["breaker_open_until"],
        },
    }


async def agent_health(conn: Conn, *, agent_id: uuid.UUID, stale_after_s: float) -> dict[str, Any]:
    statement = _health_statement("a.agent_id = %(agent_id)s")
    params = {"agent_id": agent_id, "stale_after_s": stale_after_s}
    row = await (await conn.execute(statement, params)).fetchone()
    if row is None:
        raise not_found("agent")
    return shape(row)


async def fleet_health(
    conn: Conn, *, state: str | None, stale_after_s: float, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, dict[str, int], dt.datetime]:
    """A page of non-archived agents by name (filtered by effective state), the counts of
    all of them by effective state, and the database's `now()` they were judged at."""
    params: dict[str, Any] = {"stale_after_s": stale_after_s, "limit": limit + 1}
    where = ["true"]
    if state is not None:
        where.append("effective_state = %(state)s")
        params["state"] = state
    after = decode_cursor(cursor, str, uuid.UUID)
    if after is not None:
        where.append("(agent_name, agent_id) > (%(after_name)s, %(after_id)s)")
        params["after_name"], params["after_id"] = after
    page_statement = sql.SQL(
        "select * from ({}) as fleet where {} order by agent_name, agent_id limit %(limit)s"
    ).format(_health_statement("a.status <> 'archived'"), sql.SQL(" and ".join(where)))
    async with conn.pipeline():
        page_cursor = await conn.execute(page_statement, params)
        counts_cursor = await conn.execute(
            _COUNTS.format(_health_statement("a.status <> 'archived'")),
            {"stale_after_s": stale_after_s},
        )
    rows = await page_cursor.fetchall()
    counts = await counts_cursor.fetchone()
    assert counts is not None  # an aggregate without GROUP BY always has its row
    as_of = counts.pop("as_of")
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1]["agent_name"], page[-1]["agent_id"]) if len(rows) > limit else None
    )
    return [shape(r) for r in page], next_cursor, counts, as_of


_COUNTS = sql.SQL(
    "select now() as as_of, count(*) as total,"
    + "".join(f" count(*) filter (where effective_state = '{s}') as {s}," for s in HEALTH_STATES)
    + " count(*) filter (where is_stale) as stale from ({}) as fleet"
)


async def _require_agent(conn: Conn, agent_id: uuid.UUID) -> dict[str, Any]:
    row = await (
        await conn.execute(
            "select agent_id, sla_p95_ms from agents where agent_id = %s", (agent_id,)
        )
    ).fetchone()
    if row is None:
        raise not_found("agent")
    return row


async def list_transitions(
    conn: Conn, *, agent_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    await _require_agent(conn, agent_id)
    params: list[Any] = [agent_id]
    after_clause = ""
    after = decode_cursor(cursor, dt.datetime, uuid.UUID)
    if after is not None:
        after_clause = " and (transitioned_at, agent_health_transition_id) < (%s, %s)"
        params.extend(after)
    cursor_ = await conn.execute(
        "select agent_health_transition_id, from_state, to_state, transitioned_at, reason,"
        " metrics, version from agent_health_transitions where agent_id = %s" + after_clause
        + " order by transitioned_at desc, agent_health_transition_id desc limit %s",
        [*params, limit + 1],
    )  # fmt: skip
    rows = await cursor_.fetchall()
    return page_of(rows, limit, "transitioned_at", "agent_health_transition_id")


_THRESHOLDS = sql.SQL(", ").join(map(sql.Identifier, THRESHOLD_COLUMNS))


async def get_thresholds(conn: Conn, *, agent_id: uuid.UUID) -> dict[str, Any]:
    agent = await _require_agent(conn, agent_id)
    statement = sql.SQL(
        "select {}, updated_by, updated_at from agent_health_thresholds where agent_id = %s"
    ).format(_THRESHOLDS)
    row = await (await conn.execute(statement, (agent_id,))).fetchone()
    return _thresholds(agent, row)


async def put_thresholds(
    conn: Conn,
    *,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    overrides: dict[str, Any],
    updated_by: str,
) -> dict[str, Any]:
    """Replace the agent's overrides (every column; None: the default)."""
    agent = await _require_agent(conn, agent_id)
    values = {name: overrides.get(name) for name in THRESHOLD_COLUMNS}
    values |= {"tenant_id": tenant_id, "agent_id": agent_id, "updated_by": updated_by}
    names = list(values)
    statement = sql.SQL(
        "insert into agent_health_thresholds ({}) values ({})"
        " on conflict (tenant_id, agent_id) do update set {}"
        " returning {}, updated_by, updated_at"
    ).format(
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(map(sql.Placeholder, names)),
        sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(n))
            for n in (*THRESHOLD_COLUMNS, "updated_by")
        ),
        _THRESHOLDS,
    )
    row = await (await conn.execute(statement, values)).fetchone()
    return _thresholds(agent, row)


def _thresholds(agent: dict[str, Any], row: dict[str, Any] | None) -> dict[str, Any]:
    effective = Thresholds.from_row(row, sla_p95_ms=agent["sla_p95_ms"])
    return {
        "agent_id": agent["agent_id"],
        "overrides": {name: (row or {}).get(name) for name in THRESHOLD_COLUMNS},
        "effective": {
            **{name: getattr(effective, name) for name in THRESHOLD_COLUMNS},
            "slow_call_ms": effective.slow_call_threshold_ms,
        },
        "sla_p95_ms": agent["sla_p95_ms"],
        "updated_by": row["updated_by"] if row else None,
        "updated_at": row["updated_at"] if row else None,
    }
