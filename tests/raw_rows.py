"""What the raw tables hold for a tenant, read as the owner: the ids ingest tests compare."""

from __future__ import annotations

import uuid

import psycopg


def stored_ids(conn: psycopg.Connection, tenant_id: uuid.UUID) -> tuple[set[str], set[str]]:
    """The execution ids and action ids stored for `tenant_id`."""
    executions = conn.execute(
        "select execution_id::text from raw.executions where tenant_id = %s", (tenant_id,)
    ).fetchall()
    actions = conn.execute(
        "select action_id::text from raw.actions where tenant_id = %s", (tenant_id,)
    ).fetchall()
    return {r[0] for r in executions}, {r[0] for r in actions}


def stored_ids_at(url: str, tenant_id: uuid.UUID) -> tuple[set[str], set[str]]:
    """`stored_ids` over a fresh owner connection to `url`."""
    with psycopg.connect(url) as conn:
        return stored_ids(conn, tenant_id)
