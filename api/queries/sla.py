"""SLA definitions (an operational table) and their compliance (marts).

A definition in force is changed by closing it and inserting its successor in the same
transaction, and retired by closing it: the app role has no DELETE on the table, and the
daily pipeline keeps judging past days against the definition then in force.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import psycopg
from psycopg import sql

from api.deps import Conn
from api.errors import ApiError, not_found
from api.pagination import decode_cursor, page_of
from api.queries.agents import get_agent
from api.queries.metrics import fetch_mart
from api.schemas.metrics import DateRange
from api.schemas.sla import NO_TARGET, TARGETS, DailyCompliance, SlaReportItem

_COLUMNS = sql.SQL(
    "sla_definition_id, agent_id, name, target_success_rate, target_p95_ms,"
    " target_availability, max_cost_per_execution_usd::float8 as max_cost_per_execution_usd,"
    " period, error_budget, effective_from, effective_to, effective_to is null as is_current,"
    " created_by, created_at, updated_at"
)
# what a successor takes over from the definition it replaces, unless the change names it
_CARRIED = ("agent_id", "name", *TARGETS, "period", "error_budget")

_METRIC_ORDER = ("availability", "success_rate", "p95_latency", "cost_per_execution")

# Daily compliance rows: the mart's columns, with the agent's name and the breached metrics
# as an array instead of the mart's comma-separated text.
_COMPLIANCE_EXPRESSIONS = {
    "agent_name": "a.name",
    "breached_metrics": "coalesce(string_to_array(c.breached_metrics, ','), '{}')",
}

# A day as a period of one day: what sla_period_compliance holds for a week, for that day.
_DAY_AS_PERIOD = {
    "agent_name": "a.name",
    "sla_name": "c.sla_name",
    "period_start": "c.execution_date",
    "period_end": "c.execution_date + 1",
    "measured_day_count": "1",
    "compliant_day_count": "c.is_compliant::int",
    "breached_day_count": "(not c.is_compliant)::int",
    "breach_rate": "(not c.is_compliant)::int::float8",
    "breached_metrics": _COMPLIANCE_EXPRESSIONS["breached_metrics"],
    "top_breached_metric": "c.primary_breached_metric",
    **{
        f"{metric}_breach_day_count": f"(c.is_{metric}_met is false)::int"
        for metric in ("availability", "success_rate", "p95_latency", "cost_per_execution")
    },
    "at_risk_day_count": "(c.is_at_risk is true)::int",
    "allowed_failure_count": "c.error_budget * c.decided_execution_count",
    "previous_breach_rate": "null::float8",
    "breach_trend": "null::text",
    "trend_driver_metric": "null::text",
}
_PERIOD = {
    "agent_name": "a.name",
    "sla_name": "s.name",
    "is_compliant": "c.breached_day_count = 0",
    "breached_metrics": "array_remove(array[{}], null)".format(
        ", ".join(f"case when c.{m}_breach_day_count > 0 then '{m}' end" for m in _METRIC_ORDER)
    ),
    "breach_top_failure_category": "null::text",
}
_GRANULARITY = {"weekly": "week", "monthly": "month"}


def _select(fields: Any, expressions: dict[str, str]) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} as {}").format(
            sql.SQL(expressions[name])
            if name in expressions
            else sql.SQL("c.{}").format(sql.Identifier(name)),
            sql.Identifier(name),
        )
        for name in fields
    )


async def get_definition(conn: Conn, *, sla_definition_id: uuid.UUID) -> dict[str, Any]:
    statement = sql.SQL("select {} from sla_definitions where sla_definition_id = %s").format(
        _COLUMNS
    )
    row = await (await conn.execute(statement, (sla_definition_id,))).fetchone()
    if row is None:
        raise not_found("SLA definition")
    return row


async def _refuse_archived_agent(conn: Conn, agent_id: uuid.UUID | None) -> None:
    if agent_id is not None and (await get_agent(conn, agent_id=agent_id))["status"] == "archived":
        raise ApiError(409, "an archived agent takes no new SLA definition", code="archived")


async def _insert(conn: Conn, values: dict[str, Any]) -> dict[str, Any]:
    statement = sql.SQL("insert into sla_definitions ({}) values ({}) returning {}").format(
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder(n) for n in values),
        _COLUMNS,
    )
    try:
        row = await (await conn.execute(statement, values)).fetchone()
    except psycopg.errors.UniqueViolation:
        scope = "this agent" if values.get("agent_id") else "the tenant-wide default"
        raise ApiError(
            409,
            f"{scope} already has an SLA definition in force; change it (PATCH) or retire it"
            " (DELETE) first",
            code="conflict",
        ) from None
    assert row is not None
    return row


async def create_definition(
    conn: Conn, *, tenant_id: uuid.UUID, fields: dict[str, Any], created_by: str
) -> dict[str, Any]:
    await _refuse_archived_agent(conn, fields.get("agent_id"))
    return await _insert(conn, {**fields, "tenant_id": tenant_id, "created_by": created_by})


async def list_definitions(
    conn: Conn,
    *,
    agent_id: uuid.UUID | None,
    include_retired: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    where: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if not include_retired:
        where.append(sql.SQL("effective_to is null"))
    if agent_id is not None:
        where.append(sql.SQL("agent_id = %s"))
        params.append(agent_id)
    after = decode_cursor(cursor, dt.datetime, uuid.UUID)
    if after is not None:
        where.append(sql.SQL("(created_at, sla_definition_id) < (%s, %s)"))
        params.extend(after)
    statement = sql.SQL(
        "select {} from sla_definitions where {}"
        " order by created_at desc, sla_definition_id desc limit %s"
    ).format(_COLUMNS, sql.SQL(" and ").join(where))
    rows = await (await conn.execute(statement, [*params, limit + 1])).fetchall()
    return page_of(rows, limit, "created_at", "sla_definition_id")


async def change_definition(
    conn: Conn, *, sla_definition_id: uuid.UUID, changes: dict[str, Any], created_by: str
) -> dict[str, Any]:
    """Close the definition and return its successor, which carries the changes."""
    # the moment is read after the row is locked: later than the commit that made the row,
    # so it is after its effective_from even if this transaction began before that commit
    statement = sql.SQL(
        "select {}, tenant_id, clock_timestamp() as moment from sla_definitions"
        " where sla_definition_id = %s for update"
    ).format(_COLUMNS)
    current = await (await conn.execute(statement, (sla_definition_id,))).fetchone()
    if current is None:
        raise not_found("SLA definition")
    if not changes:
        return {k: v for k, v in current.items() if k not in ("tenant_id", "moment")}
    if not current["is_current"]:
        raise ApiError(
            409, "this SLA definition was changed or retired; change its successor", code="retired"
        )
    successor = {name: current[name] for name in _CARRIED} | changes
    if all(successor[name] is None for name in TARGETS):
        raise ApiError(
            422,
            "the request is not valid",
            details=[{"location": ["body"], "message": NO_TARGET, "type": "value_error"}],
        )
    await _refuse_archived_agent(conn, successor["agent_id"])
    await conn.execute(
        "update sla_definitions set effective_to = %s where sla_definition_id = %s",
        (current["moment"], sla_definition_id),
    )
    return await _insert(
        conn,
        {
            **successor,
            "tenant_id": current["tenant_id"],
            "effective_from": current["moment"],
            "created_by": created_by,
        },
    )


async def retire_definition(conn: Conn, *, sla_definition_id: uuid.UUID) -> None:
    """Close the definition from now on; one already closed stays as it is."""
    cursor = await conn.execute(
        "update sla_definitions set effective_to = clock_timestamp()"
        " where sla_definition_id = %s and effective_to is null",
        (sla_definition_id,),
    )
    if cursor.rowcount == 0:
        await get_definition(conn, sla_definition_id=sla_definition_id)  # 404 if missing


async def daily_compliance(
    conn: Conn, *, sla_definition_id: uuid.UUID, days: DateRange, agent_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    await get_definition(conn, sla_definition_id=sla_definition_id)
    params: list[Any] = [sla_definition_id, days.first, days.last]
    agent = sql.SQL("")
    if agent_id is not None:
        agent = sql.SQL(" and c.agent_id = %s")
        params.append(agent_id)
    statement = sql.SQL(
        "select {} from marts.sla_daily_compliance c left join agents a on a.agent_id = c.agent_id"
        " where c.sla_definition_id = %s and c.execution_date between %s and %s{}"
        " order by c.execution_date, a.name, c.agent_id"
    ).format(_select(DailyCompliance.model_fields, _COMPLIANCE_EXPRESSIONS), agent)
    return await fetch_mart(conn, statement, params)


async def report(
    conn: Conn, *, period: str, days: DateRange, agent_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    """Every day, or every week or month that overlaps the range, per agent."""
    agent = sql.SQL(" and c.agent_id = %s" if agent_id is not None else "")
    if period == "daily":
        statement = sql.SQL(
            "select {} from marts.sla_daily_compliance c"
            " left join agents a on a.agent_id = c.agent_id"
            " where c.execution_date between %s and %s{}"
            " order by c.execution_date, a.name, c.agent_id"
        ).format(_select(SlaReportItem.model_fields, _DAY_AS_PERIOD), agent)
        params: list[Any] = [days.first, days.last]
    else:
        statement = sql.SQL(
            "select {} from marts.sla_period_compliance c"
            " left join agents a on a.agent_id = c.agent_id"
            " left join sla_definitions s on s.sla_definition_id = c.sla_definition_id"
            " where c.period_granularity = %s and c.period_start <= %s and c.period_end > %s{}"
            " order by c.period_start, a.name, c.agent_id"
        ).format(_select(SlaReportItem.model_fields, _PERIOD), agent)
        params = [_GRANULARITY[period], days.last, days.first]
    if agent_id is not None:
        params.append(agent_id)
    return await fetch_mart(conn, statement, params)
