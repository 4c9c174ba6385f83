"""Breaker rows for the circuit routes: configuration, persisted state, audit events."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from api.deps import Conn
from api.errors import not_found
from api.pagination import decode_cursor, encode_cursor
from meta_agent.breaker import BreakerConfig

_CONFIG_COLUMNS = [
    "enabled", "window_kind", "window_size", "min_calls", "failure_rate_threshold",
    "slow_call_duration_ms", "slow_call_rate_threshold", "consecutive_failures_threshold",
    "open_duration_ms", "backoff_multiplier", "max_open_duration_ms",
    "half_open_permitted_probes", "half_open_deadline_ms",
]  # fmt: skip


async def require_agent(conn: Conn, agent_id: uuid.UUID) -> None:
    """404 unless the caller's tenant has the agent (RLS hides the others')."""
    cursor = await conn.execute("select 1 from agents where agent_id = %s", (agent_id,))
    if await cursor.fetchone() is None:
        raise not_found("agent")


async def agent_ids_by_name(conn: Conn, names: list[str]) -> dict[str, uuid.UUID]:
    cursor = await conn.execute("select name, agent_id from agents where name = any(%s)", (names,))
    return {row["name"]: row["agent_id"] for row in await cursor.fetchall()}


async def config_row(conn: Conn, agent_id: uuid.UUID) -> dict[str, Any] | None:
    cursor = await conn.execute(
        "select * from circuit_breaker_configs where agent_id = %s", (agent_id,)
    )
    return await cursor.fetchone()


def config_out(config: BreakerConfig, row: dict[str, Any] | None) -> dict[str, Any]:
    return {
        **asdict(config),
        "window_kind": config.window_kind.value,
        "is_default": row is None,
        "updated_by": row["updated_by"] if row else None,
        "updated_at": row["updated_at"] if row else None,
    }


async def save_config(
    conn: Conn, tenant_id: uuid.UUID, agent_id: uuid.UUID, config: BreakerConfig, actor: str
) -> dict[str, Any]:
    values = {**asdict(config), "window_kind": config.window_kind.value}
    columns = ", ".join(_CONFIG_COLUMNS)
    placeholders = ", ".join(f"%({c})s" for c in _CONFIG_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in [*_CONFIG_COLUMNS, "updated_by"])
    cursor = await conn.execute(
        f"insert into circuit_breaker_configs (tenant_id, agent_id, {columns}, updated_by)"
        f" values (%(tenant_id)s, %(agent_id)s, {placeholders}, %(updated_by)s)"
        f" on conflict (tenant_id, agent_id) do update set {updates} returning *",
        {**values, "tenant_id": tenant_id, "agent_id": agent_id, "updated_by": actor},
    )
    row = await cursor.fetchone()
    assert row is not None
    return row


async def state_row(conn: Conn, agent_id: uuid.UUID) -> dict[str, Any] | None:
    cursor = await conn.execute(
        "select * from circuit_breaker_states where agent_id = %s", (agent_id,)
    )
    return await cursor.fetchone()


async def list_events(
    conn: Conn, agent_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    after = decode_cursor(cursor, int)
    where, params = "agent_id = %s", [agent_id]
    if after is not None:
        where += " and version < %s"
        params.append(after[0])
    rows = await (
        await conn.execute(
            "select circuit_breaker_event_id, from_state, to_state, cause, actor, reason,"
            f" occurred_at, version, metrics from circuit_breaker_events where {where}"
            " order by version desc limit %s",
            (*params, limit + 1),
        )
    ).fetchall()
    page = rows[:limit]
    return page, encode_cursor(page[-1]["version"]) if len(rows) > limit else None
