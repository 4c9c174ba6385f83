"""Execution queries over the raw, day-partitioned logs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from psycopg import sql

from api.deps import Conn
from api.errors import not_found
from api.pagination import decode_cursor, page_of

_SUMMARY = (
    "e.execution_id, e.agent_id, a.name as agent_name, e.started_at, e.ended_at, e.duration_ms,"
    " e.status, e.session_id, e.parent_execution_id, e.prompt_version_id, e.experiment_id,"
    " e.variant, e.model, e.input_tokens, e.output_tokens, e.cost_usd, e.error_type,"
    " e.error_message"
)


async def list_executions(
    conn: Conn,
    *,
    filters: dict[str, Any],
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    where: list[sql.Composable] = []
    params: list[Any] = []
    for column, value in filters.items():
        if value is not None:
            where.append(sql.SQL("e.{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if since is not None:
        where.append(sql.SQL("e.started_at >= %s"))
        params.append(since)
    if until is not None:
        where.append(sql.SQL("e.started_at < %s"))
        params.append(until)
    after = decode_cursor(cursor, dt.datetime, uuid.UUID)
    if after is not None:
        where.append(sql.SQL("(e.started_at, e.execution_id) < (%s, %s)"))
        params.extend(after)
    statement = sql.SQL(
        "select {} from raw.executions e left join agents a on a.agent_id = e.agent_id"
        " where {} order by e.started_at desc, e.execution_id desc limit %s"
    ).format(sql.SQL(_SUMMARY), sql.SQL(" and ").join(where) if where else sql.SQL("true"))
    rows = await (await conn.execute(statement, [*params, limit + 1])).fetchall()
    return page_of(rows, limit, "started_at", "execution_id")


async def get_execution(conn: Conn, *, execution_id: uuid.UUID) -> dict[str, Any]:
    # Both statements go in one round trip (a pipeline). Actions start inside their execution's
    # window; bounding them by it (a day of slack covers clocks that disagree) lets the planner
    # skip every other day's partition at run time.
    async with conn.pipeline():
        execution_cursor = await conn.execute(
            "select " + _SUMMARY + ", e.input, e.output, e.metadata, e.trace_id"
            " from raw.executions e left join agents a on a.agent_id = e.agent_id"
            " where e.execution_id = %(id)s",
            {"id": execution_id},
        )
        actions_cursor = await conn.execute(
            "select action_id, parent_action_id, sequence, action_type, name, started_at,"
            " ended_at, duration_ms, status, model, input_tokens, output_tokens, cost_usd,"
            " error_type, error_message, input, output, attributes from raw.actions"
            " where execution_id = %(id)s"
            " and started_at >= (select min(started_at) - interval '1 day'"
            "                    from raw.executions where execution_id = %(id)s)"
            " and started_at <= (select max(coalesce(ended_at, started_at)) + interval '1 day'"
            "                    from raw.executions where execution_id = %(id)s)"
            " order by sequence, started_at, action_id",
            {"id": execution_id},
        )
    execution = await execution_cursor.fetchone()
    if execution is None:
        raise not_found("execution")
    execution["actions"] = build_tree(await actions_cursor.fetchall())
    return execution


def build_tree(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nest actions under their parents. An action whose parent is missing becomes a root, and
    so does the first action reached of a parent cycle (the SDK cannot make one, a client
    posting raw items can), so every action appears exactly once."""
    by_id = {a["action_id"]: {**a, "children": []} for a in actions}
    parent_of = {
        action_id: node["parent_action_id"]
        for action_id, node in by_id.items()
        if node["parent_action_id"] in by_id and node["parent_action_id"] != action_id
    }
    roots = []
    for action_id, node in by_id.items():
        # walk up; an action in (or under) a cycle meets itself or a node seen on this walk
        seen = {action_id}
        cursor = parent_of.get(action_id)
        while cursor is not None and cursor not in seen:
            seen.add(cursor)
            cursor = parent_of.get(cursor)
        if action_id not in parent_of or cursor == action_id:
            roots.append(node)
        else:
            by_id[parent_of[action_id]]["children"].append(node)
    return roots
