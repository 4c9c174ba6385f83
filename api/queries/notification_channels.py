"""notification_channels rows, read without their ciphertext: a query here never selects it."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from api.deps import Conn
from api.errors import not_found

_COLUMNS = sql.SQL(
    "notification_channel_id, kind, name, config, supports_digest, enabled, secret_env_var,"
    " secret_ciphertext is not null as has_ciphertext, created_by, created_at, updated_at"
)


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the API shows it: where the secret lives, not what it is."""
    out = {k: v for k, v in row.items() if k != "has_ciphertext"}
    source = "env" if row["secret_env_var"] else "encrypted" if row["has_ciphertext"] else None
    return {**out, "has_secret": source is not None, "secret_source": source}


async def list_channels(conn: Conn) -> list[dict[str, Any]]:
    statement = sql.SQL(
        "select {} from notification_channels order by created_at, notification_channel_id"
    ).format(_COLUMNS)
    return [shown(r) for r in await (await conn.execute(statement)).fetchall()]


async def get_channel(conn: Conn, *, channel_id: uuid.UUID, lock: bool = False) -> dict[str, Any]:
    statement = sql.SQL(
        "select {} from notification_channels where notification_channel_id = %s {}"
    ).format(_COLUMNS, sql.SQL("for update" if lock else ""))
    row = await (await conn.execute(statement, (channel_id,))).fetchone()
    if row is None:
        raise not_found("notification channel")
    return shown(row)


async def insert_channel(
    conn: Conn,
    *,
    tenant_id: uuid.UUID,
    values: dict[str, Any],
    secret_env_var: str | None,
    secret_ciphertext: bytes | None,
    created_by: str,
) -> dict[str, Any]:
    statement = sql.SQL(
        "insert into notification_channels (tenant_id, kind, name, config, supports_digest,"
        " enabled, secret_env_var, secret_ciphertext, created_by)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s) returning {}"
    ).format(_COLUMNS)
    params = (
        tenant_id, values["kind"], values["name"], Jsonb(values["config"]),
        values["supports_digest"], values["enabled"], secret_env_var, secret_ciphertext,
        created_by,
    )  # fmt: skip
    row = await (await conn.execute(statement, params)).fetchone()
    assert row is not None
    return shown(row)


async def update_channel(
    conn: Conn, *, channel_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Set `changes` (column → value; the secret columns included) on the channel."""
    values = {k: Jsonb(v) if k == "config" else v for k, v in changes.items()}
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
    )
    statement = sql.SQL(
        "update notification_channels set {} where notification_channel_id = %(id)s returning {}"
    ).format(sets, _COLUMNS)
    row = await (await conn.execute(statement, {**values, "id": channel_id})).fetchone()
    if row is None:
        raise not_found("notification channel")
    return shown(row)
