"""Reads of the warehouse's marts (schema `marts`, built by the daily dbt run).

The marts carry tenant_id under forced RLS like every other table, so these queries name no
tenant. Sums over bigint columns come back as numeric from Postgres and are cast back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from api.deps import Conn
from api.errors import ApiError
from api.queries.agents import get_agent
from api.schemas.metrics import DailyMetrics, DateRange

# What each `group_by` value selects and groups by, over a mart aliased `m`. A dimension left
# out is selected as a typed NULL, so every row has the same columns.
_DIMENSIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # name: ((output column, expression, type of its NULL), ...)
    "agent": (("agent_id", "m.agent_id", "uuid"), ("agent_name", "a.name", "text")),
    "day": (("execution_date", "m.execution_date", "date"),),
    "error_type": (
        ("error_type", "m.error_type", "text"),
        ("cause_category", "m.cause_category", "text"),
    ),
    "cause_category": (("cause_category", "m.cause_category", "text"),),
    "model": (("model_name", "m.model_name", "text"),),
}
_ERROR_COLUMNS = ("agent_id", "agent_name", "execution_date", "error_type", "cause_category")
_COST_COLUMNS = ("agent_id", "agent_name", "model_name", "execution_date")


async def fetch_mart(
    conn: Conn, statement: sql.Composed, params: Sequence[Any]
) -> list[dict[str, Any]]:
    """Rows of a query over the marts; a 503 that says why when they were never built."""
    try:
        return await (await conn.execute(statement, params)).fetchall()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        raise ApiError(
            503,
            "the warehouse has not been built yet; the daily pipeline builds it"
            " (or run `python -m meta_agent aggregate`)",
            code="warehouse_not_built",
        ) from None


def _grouping(
    dimensions: Sequence[str], columns: Sequence[str]
) -> tuple[sql.Composable, list[sql.Composable]]:
    """The select list of the dimensions (in `columns` order) and the GROUP BY expressions;
    at least one dimension, so every answer is grouped."""
    assert dimensions, "at least one dimension"
    chosen = {
        column: sql.SQL(expression)
        for name in dimensions
        for column, expression, _ in _DIMENSIONS[name]
    }
    nulls = {column: kind for spec in _DIMENSIONS.values() for column, _, kind in spec}
    select = sql.SQL(", ").join(
        sql.SQL("{} as {}").format(
            chosen.get(column, sql.SQL("null::{}").format(sql.SQL(nulls[column]))),
            sql.Identifier(column),
        )
        for column in columns
    )
    return select, list(chosen.values())


def _group_clause(expressions: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" group by ") + sql.SQL(", ").join(expressions)


def _filters(days: DateRange, agent_id: uuid.UUID | None) -> tuple[sql.Composable, list[Any]]:
    where: sql.Composable = sql.SQL("m.execution_date between %s and %s")
    params: list[Any] = [days.first, days.last]
    if agent_id is not None:
        where += sql.SQL(" and m.agent_id = %s")
        params.append(agent_id)
    return where, params


async def agent_daily_metrics(
    conn: Conn, *, agent_id: uuid.UUID, days: DateRange
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The agent (404 unless the caller's tenant has it) and its days in the range."""
    agent = await get_agent(conn, agent_id=agent_id)
    statement = sql.SQL(
        "select {} from marts.agent_daily_metrics"
        " where agent_id = %s and execution_date between %s and %s order by execution_date"
    ).format(sql.SQL(", ").join(map(sql.Identifier, DailyMetrics.model_fields)))
    return agent, await fetch_mart(conn, statement, (agent_id, days.first, days.last))


async def error_distribution(
    conn: Conn, *, days: DateRange, agent_id: uuid.UUID | None, group_by: Sequence[str]
) -> list[dict[str, Any]]:
    select, groups = _grouping(group_by, _ERROR_COLUMNS)
    where, params = _filters(days, agent_id)
    statement = sql.SQL(
        "select {select}, sum(m.failure_count)::bigint as failure_count,"
        " sum(m.timeout_count)::bigint as timeout_count,"
        " sum(m.availability_failure_count)::bigint as availability_failure_count,"
        " sum(m.failure_count)::float8"
        " / nullif(sum(sum(m.failure_count)) over (), 0)::float8 as share_of_failures"
        " from marts.agent_error_distribution m left join agents a on a.agent_id = m.agent_id"
        " where {where}{group}"
        " order by execution_date nulls first, failure_count desc, agent_name, agent_id,"
        " cause_category, error_type"
    ).format(select=select, where=where, group=_group_clause(groups))
    return await fetch_mart(conn, statement, params)


async def cost_breakdown(
    conn: Conn, *, days: DateRange, agent_id: uuid.UUID | None, group_by: Sequence[str]
) -> list[dict[str, Any]]:
    select, groups = _grouping(group_by, _COST_COLUMNS)
    where, params = _filters(days, agent_id)
    statement = sql.SQL(
        "select {select}, sum(m.llm_call_count)::bigint as llm_call_count,"
        " sum(m.failed_llm_call_count)::bigint as failed_llm_call_count,"
        " sum(m.input_tokens)::bigint as input_tokens,"
        " sum(m.output_tokens)::bigint as output_tokens, sum(m.cost_usd) as cost_usd,"
        " (sum(m.cost_usd) / nullif(sum(m.llm_call_count), 0))::float8 as cost_per_llm_call_usd,"
        " (sum(m.cost_usd) / nullif(sum(sum(m.cost_usd)) over (), 0))::float8 as share_of_cost"
        " from marts.cost_daily m left join agents a on a.agent_id = m.agent_id"
        " where {where}{group}"
        " order by execution_date nulls first, cost_usd desc, agent_name, agent_id, model_name"
    ).format(select=select, where=where, group=_group_clause(groups))
    return await fetch_mart(conn, statement, params)
