"""Alerts and the delivery outbox: filtered keyset pages, one alert with its deliveries, and
putting a dead-lettered delivery back in the queue."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import sql

from api.deps import Conn
from api.errors import ApiError, not_found
from api.pagination import decode_cursor, page_of

_ALERT = sql.SQL(
    "select a.alert_id, a.agent_id, g.name as agent_name, a.alert_type, a.severity, a.status,"
    " a.fingerprint, a.title, a.summary, a.labels, a.details, a.occurrence_count,"
    " a.suppressed_count, a.first_seen_at, a.last_seen_at, a.notified_at, a.clear_since,"
    " a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.auto_resolved,"
    " a.seconds_to_acknowledge, a.seconds_to_resolve"
    " from alerts a left join agents g on g.tenant_id = a.tenant_id and g.agent_id = a.agent_id"
)
_DELIVERY = sql.SQL(
    "select d.alert_delivery_id, d.alert_id, d.notification_channel_id,"
    " c.name as channel_name, c.kind as channel_kind, d.state_change, d.sequence,"
    " d.digest_date, d.status, d.attempts, d.last_error, d.response_code, d.sent_at,"
    " d.next_attempt_at, d.created_at, d.updated_at"
    " from alert_deliveries d join notification_channels c"
    " on c.tenant_id = d.tenant_id and c.notification_channel_id = d.notification_channel_id"
)


def _where(parts: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" and ").join(parts) if parts else sql.SQL("true")


async def list_alerts(
    conn: Conn,
    *,
    statuses: Sequence[str] | None,
    severities: Sequence[str] | None,
    alert_types: Sequence[str] | None,
    agent_id: uuid.UUID | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    where: list[sql.Composable] = []
    params: list[Any] = []
    for column, values in (("status", statuses), ("severity", severities)):
        if values:
            where.append(sql.SQL("a.{} = any(%s)").format(sql.Identifier(column)))
            params.append(sorted(set(values)))
    if alert_types:
        where.append(sql.SQL("a.alert_type = any(%s)"))
        params.append(sorted(set(alert_types)))
    if agent_id is not None:
        where.append(sql.SQL("a.agent_id = %s"))
        params.append(agent_id)
    if since is not None:
        where.append(sql.SQL("a.first_seen_at >= %s"))
        params.append(since)
    if until is not None:
        where.append(sql.SQL("a.first_seen_at < %s"))
        params.append(until)
    after = decode_cursor(cursor, dt.datetime, uuid.UUID)
    if after is not None:
        where.append(sql.SQL("(a.first_seen_at, a.alert_id) < (%s, %s)"))
        params.extend(after)
    statement = sql.SQL("{} where {} order by a.first_seen_at desc, a.alert_id desc limit %s")
    rows = await (
        await conn.execute(statement.format(_ALERT, _where(where)), [*params, limit + 1])
    ).fetchall()
    return page_of(rows, limit, "first_seen_at", "alert_id")


async def get_alert(conn: Conn, *, alert_id: uuid.UUID) -> dict[str, Any]:
    """The alert with its deliveries, oldest first; 404 when the tenant has no such alert."""
    cursor = await conn.execute(sql.SQL("{} where a.alert_id = %s").format(_ALERT), (alert_id,))
    alert = await cursor.fetchone()
    if alert is None:
        raise not_found("alert")
    cursor = await conn.execute(
        sql.SQL("{} where d.alert_id = %s order by d.created_at, d.alert_delivery_id").format(
            _DELIVERY
        ),
        (alert_id,),
    )
    return {**alert, "deliveries": await cursor.fetchall()}


async def list_deliveries(
    conn: Conn, *, statuses: Sequence[str] | None, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    where: list[sql.Composable] = []
    params: list[Any] = []
    if statuses:
        where.append(sql.SQL("d.status = any(%s)"))
        params.append(sorted(set(statuses)))
    after = decode_cursor(cursor, dt.datetime, uuid.UUID)
    if after is not None:
        where.append(sql.SQL("(d.created_at, d.alert_delivery_id) < (%s, %s)"))
        params.extend(after)
    statement = sql.SQL(
        "{} where {} order by d.created_at desc, d.alert_delivery_id desc limit %s"
    ).format(_DELIVERY, _where(where))
    rows = await (await conn.execute(statement, [*params, limit + 1])).fetchall()
    return page_of(rows, limit, "created_at", "alert_delivery_id")


async def retry_delivery(conn: Conn, *, alert_delivery_id: uuid.UUID) -> dict[str, Any]:
    """A dead-lettered delivery back in the queue, due now, with a fresh count of attempts."""
    cursor = await conn.execute(
        "update alert_deliveries set status = 'pending', attempts = 0, next_attempt_at = now(),"
        " claimed_until = null where alert_delivery_id = %s and status = 'dead_letter'"
        " returning alert_delivery_id",
        (alert_delivery_id,),
    )
    if await cursor.fetchone() is None:
        cursor = await conn.execute(
            "select status from alert_deliveries where alert_delivery_id = %s",
            (alert_delivery_id,),
        )
        row = await cursor.fetchone()
        if row is None:
            raise not_found("delivery")
        raise ApiError(409, f"the delivery is {row['status']}: only a dead-lettered one is retried")
    cursor = await conn.execute(
        sql.SQL("{} where d.alert_delivery_id = %s").format(_DELIVERY), (alert_delivery_id,)
    )
    row = await cursor.fetchone()
    assert row is not None
    return row
