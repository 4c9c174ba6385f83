"""alert_routing_rules rows; a rule's channel and agent must be the caller's tenant's."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql

from api.deps import Conn
from api.errors import ApiError, not_found

_COLUMNS = sql.SQL(
    "alert_routing_rule_id, notification_channel_id, name, agent_id, severities, alert_types,"
    " delivery_mode, priority, stop_after_match, enabled, created_by, created_at, updated_at"
)


async def check_references(
    conn: Conn, *, channel_id: uuid.UUID | None, agent_id: uuid.UUID | None
) -> None:
    """404 naming the field when the channel or agent is not the tenant's (RLS hides others')."""
    problems = []
    if channel_id is not None:
        cursor = await conn.execute(
            "select 1 from notification_channels where notification_channel_id = %s",
            (channel_id,),
        )
        if await cursor.fetchone() is None:
            problems.append(("notification_channel_id", "no such notification channel"))
    if agent_id is not None:
        cursor = await conn.execute("select 1 from agents where agent_id = %s", (agent_id,))
        if await cursor.fetchone() is None:
            problems.append(("agent_id", "no such agent"))
    if problems:
        details = [
            {"location": ["body", field], "message": message, "type": "invalid_reference"}
            for field, message in problems
        ]
        raise ApiError(404, "; ".join(m for _, m in problems), details=details)


async def list_rules(conn: Conn) -> list[dict[str, Any]]:
    statement = sql.SQL(
        "select {} from alert_routing_rules order by priority, created_at, alert_routing_rule_id"
    ).format(_COLUMNS)
    return list(await (await conn.execute(statement)).fetchall())


async def get_rule(conn: Conn, *, rule_id: uuid.UUID) -> dict[str, Any]:
    statement = sql.SQL("select {} from alert_routing_rules where alert_routing_rule_id = %s")
    row = await (await conn.execute(statement.format(_COLUMNS), (rule_id,))).fetchone()
    if row is None:
        raise not_found("alert route")
    return row


async def insert_rule(
    conn: Conn, *, tenant_id: uuid.UUID, values: dict[str, Any], created_by: str
) -> dict[str, Any]:
    columns = [*values, "tenant_id", "created_by"]
    statement = sql.SQL("insert into alert_routing_rules ({}) values ({}) returning {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(map(sql.Placeholder, columns)),
        _COLUMNS,
    )
    params = {**values, "tenant_id": tenant_id, "created_by": created_by}
    row = await (await conn.execute(statement, params)).fetchone()
    assert row is not None
    return row


async def update_rule(conn: Conn, *, rule_id: uuid.UUID, changes: dict[str, Any]) -> dict[str, Any]:
    if not changes:
        return await get_rule(conn, rule_id=rule_id)
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in changes
    )
    statement = sql.SQL(
        "update alert_routing_rules set {} where alert_routing_rule_id = %(id)s returning {}"
    ).format(sets, _COLUMNS)
    row = await (await conn.execute(statement, {**changes, "id": rule_id})).fetchone()
    if row is None:
        raise not_found("alert route")
    return row
