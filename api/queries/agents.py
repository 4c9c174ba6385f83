"""Agent registry queries."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from api.deps import Conn
from api.errors import ApiError, not_found
from api.pagination import decode_cursor, encode_cursor

_COLUMNS = sql.SQL(
    "agent_id, name, kind, owner, description, config, tags, status, sla_p95_ms,"
    " current_prompt_version_id, created_at, updated_at, archived_at"
)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def create_agent(
    conn: Conn, *, tenant_id: uuid.UUID, fields: dict[str, Any]
) -> dict[str, Any]:
    values = {**fields, "config": Jsonb(fields.get("config", {})), "tenant_id": tenant_id}
    names = list(values)
    statement = sql.SQL("insert into agents ({}) values ({}) returning {}").format(
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder(n) for n in names),
        _COLUMNS,
    )
    cursor = await conn.execute(statement, values)
    row = await cursor.fetchone()
    assert row is not None
    return row


async def get_agent(conn: Conn, *, agent_id: uuid.UUID) -> dict[str, Any]:
    statement = sql.SQL("select {} from agents where agent_id = %s").format(_COLUMNS)
    row = await (await conn.execute(statement, (agent_id,))).fetchone()
    if row is None:
        raise not_found("agent")
    return row


async def list_agents(
    conn: Conn,
    *,
    status: str | None,
    kind: str | None,
    tag: str | None,
    owner: str | None,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    where: list[sql.Composable] = [sql.SQL("true")]
    params: list[Any] = []
    if status is None:
        where.append(sql.SQL("status <> 'archived'"))
    else:
        where.append(sql.SQL("status = %s"))
        params.append(status)
    for column, value in (("kind", kind), ("owner", owner)):
        if value is not None:
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if tag is not None:
        where.append(sql.SQL("tags @> array[%s]::text[]"))
        params.append(tag)
    if search is not None:
        where.append(sql.SQL("name ilike %s"))
        params.append(_like_pattern(search))
    after = decode_cursor(cursor, str, uuid.UUID)
    if after is not None:
        where.append(sql.SQL("(name, agent_id) > (%s, %s)"))
        params.extend(after)
    statement = sql.SQL("select {} from agents where {} order by name, agent_id limit %s").format(
        _COLUMNS, sql.SQL(" and ").join(where)
    )
    rows = await (await conn.execute(statement, [*params, limit + 1])).fetchall()
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1]["name"], page[-1]["agent_id"]) if len(rows) > limit else None
    )
    return page, next_cursor


async def update_agent(
    conn: Conn, *, agent_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    if not changes:
        return await get_agent(conn, agent_id=agent_id)
    if "config" in changes:
        changes = {**changes, "config": Jsonb(changes["config"])}
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes
    )
    statement = sql.SQL(
        "update agents set {} where agent_id = {} and status <> 'archived' returning {}"
    ).format(assignments, sql.Placeholder("_agent_id"), _COLUMNS)
    row = await (await conn.execute(statement, {**changes, "_agent_id": agent_id})).fetchone()
    if row is None:
        await get_agent(conn, agent_id=agent_id)  # 404 if it does not exist
        raise ApiError(409, "an archived agent cannot be changed", code="archived")
    return row


async def archive_agent(conn: Conn, *, agent_id: uuid.UUID) -> dict[str, Any]:
    statement = sql.SQL(
        "update agents set status = 'archived', archived_at = coalesce(archived_at, now())"
        " where agent_id = %s returning {}"
    ).format(_COLUMNS)
    row = await (await conn.execute(statement, (agent_id,))).fetchone()
    if row is None:
        raise not_found("agent")
    return row


async def add_dependency(
    conn: Conn,
    *,
    tenant_id: uuid.UUID,
    upstream_agent_id: uuid.UUID,
    downstream_agent_id: uuid.UUID,
    kind: str,
    description: str,
) -> dict[str, Any]:
    for agent_id in (upstream_agent_id, downstream_agent_id):
        if (await get_agent(conn, agent_id=agent_id))["status"] == "archived":
            raise ApiError(409, "an archived agent cannot get new dependencies", code="archived")
    if upstream_agent_id == downstream_agent_id:
        raise ApiError(422, "an agent cannot depend on itself")
    # Edges are replaced, never updated (the app role has no UPDATE on them); a re-declared
    # edge keeps the time it was first declared.
    replaced = await (
        await conn.execute(
            "delete from agent_dependencies where upstream_agent_id = %s"
            " and downstream_agent_id = %s returning created_at",
            (upstream_agent_id, downstream_agent_id),
        )
    ).fetchone()
    cursor = await conn.execute(
        "insert into agent_dependencies"
        " (tenant_id, upstream_agent_id, downstream_agent_id, kind, description, created_at)"
        " values (%s, %s, %s, %s, %s, coalesce(%s, now()))"
        " returning upstream_agent_id, downstream_agent_id, kind, description, created_at",
        (
            tenant_id, upstream_agent_id, downstream_agent_id, kind, description,
            replaced["created_at"] if replaced else None,
        ),
    )  # fmt: skip
    row = await cursor.fetchone()
    assert row is not None
    return row


async def remove_dependency(
    conn: Conn, *, upstream_agent_id: uuid.UUID, downstream_agent_id: uuid.UUID
) -> None:
    cursor = await conn.execute(
        "delete from agent_dependencies where upstream_agent_id = %s and downstream_agent_id = %s",
        (upstream_agent_id, downstream_agent_id),
    )
    if cursor.rowcount == 0:
        raise not_found("dependency")


async def list_dependencies(conn: Conn, *, agent_id: uuid.UUID) -> list[dict[str, Any]]:
    await get_agent(conn, agent_id=agent_id)
    cursor = await conn.execute(
        "select upstream_agent_id, downstream_agent_id, kind, description, created_at"
        " from agent_dependencies where upstream_agent_id = %s or downstream_agent_id = %s"
        " order by created_at, upstream_agent_id, downstream_agent_id",
        (agent_id, agent_id),
    )
    return await cursor.fetchall()


async def dependency_graph(conn: Conn) -> dict[str, list[dict[str, Any]]]:
    nodes = await (
        await conn.execute("select agent_id, name, kind, status from agents order by name")
    ).fetchall()
    edges = await (
        await conn.execute(
            "select upstream_agent_id, downstream_agent_id, kind, description, created_at"
            " from agent_dependencies order by upstream_agent_id, downstream_agent_id"
        )
    ).fetchall()
    return {"nodes": nodes, "edges": edges}
