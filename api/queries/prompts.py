"""Prompt version queries."""

from __future__ import annotations

import difflib
import uuid
from typing import Any

from psycopg.types.json import Jsonb

from api.deps import Conn
from api.errors import ApiError, not_found
from api.pagination import decode_cursor, encode_cursor

_SELECT = (
    "select p.prompt_version_id, p.agent_id, p.version, p.parent_version_id, p.template,"
    " p.variables, p.model, p.parameters, p.author, p.change_summary, p.status, p.source,"
    " p.created_at, (a.current_prompt_version_id = p.prompt_version_id) is true as is_current"
    " from prompt_versions p join agents a on a.agent_id = p.agent_id"
)


async def create_version(
    conn: Conn, *, tenant_id: uuid.UUID, agent_id: uuid.UUID, fields: dict[str, Any]
) -> dict[str, Any]:
    # Lock the agent row so two concurrent creates get consecutive numbers, not a conflict.
    agent = await (
        await conn.execute(
            "select current_prompt_version_id, status from agents where agent_id = %s for update",
            (agent_id,),
        )
    ).fetchone()
    if agent is None:
        raise not_found("agent")
    if agent["status"] == "archived":
        raise ApiError(409, "an archived agent cannot get new prompt versions", code="archived")
    parent = fields.pop("parent_version_id", None) or agent["current_prompt_version_id"]
    if parent is not None:
        found = await (
            await conn.execute(
                "select 1 from prompt_versions where prompt_version_id = %s and agent_id = %s",
                (parent, agent_id),
            )
        ).fetchone()
        if found is None:  # answered like set_current answers another agent's version
            raise not_found("parent prompt version")
    cursor = await conn.execute(
        "insert into prompt_versions (tenant_id, agent_id, version, parent_version_id, template,"
        " variables, model, parameters, author, change_summary)"
        " select %s, %s, coalesce(max(version), 0) + 1, %s, %s, %s, %s, %s, %s, %s"
        " from prompt_versions where agent_id = %s returning prompt_version_id",
        (
            tenant_id, agent_id, parent, fields["template"], fields["variables"], fields["model"],
            Jsonb(fields["parameters"]), fields["author"], fields["change_summary"], agent_id,
        ),
    )  # fmt: skip
    row = await cursor.fetchone()
    assert row is not None
    return await get_version(conn, prompt_version_id=row["prompt_version_id"])


async def get_version(conn: Conn, *, prompt_version_id: uuid.UUID) -> dict[str, Any]:
    cursor = await conn.execute(_SELECT + " where p.prompt_version_id = %s", (prompt_version_id,))
    row = await cursor.fetchone()
    if row is None:
        raise not_found("prompt version")
    return row


async def list_versions(
    conn: Conn, *, agent_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    exists = await (
        await conn.execute("select 1 from agents where agent_id = %s", (agent_id,))
    ).fetchone()
    if exists is None:
        raise not_found("agent")
    after = decode_cursor(cursor, int)
    params: list[Any] = [agent_id]
    where = " where p.agent_id = %s"
    if after is not None:
        where += " and p.version < %s"
        params.append(after[0])
    rows = await (
        await conn.execute(
            _SELECT + where + " order by p.version desc limit %s", [*params, limit + 1]
        )
    ).fetchall()
    page = rows[:limit]
    return page, encode_cursor(page[-1]["version"]) if len(rows) > limit else None


async def set_current(
    conn: Conn, *, agent_id: uuid.UUID, prompt_version_id: uuid.UUID
) -> dict[str, Any]:
    version = await get_version(conn, prompt_version_id=prompt_version_id)
    if version["agent_id"] != agent_id:
        raise not_found("prompt version")
    agent = await (
        await conn.execute("select status from agents where agent_id = %s for update", (agent_id,))
    ).fetchone()
    if agent is None:
        raise not_found("agent")
    if agent["status"] == "archived":
        raise ApiError(409, "an archived agent cannot change its prompt", code="archived")
    await conn.execute(
        "update prompt_versions set status = 'retired'"
        " where agent_id = %s and status = 'active' and prompt_version_id <> %s",
        (agent_id, prompt_version_id),
    )
    await conn.execute(
        "update prompt_versions set status = 'active' where prompt_version_id = %s",
        (prompt_version_id,),
    )
    await conn.execute(
        "update agents set current_prompt_version_id = %s where agent_id = %s",
        (prompt_version_id, agent_id),
    )
    return await get_version(conn, prompt_version_id=prompt_version_id)


_COMPARED = ("model", "parameters", "variables", "status", "author")


async def diff_versions(conn: Conn, *, base_id: uuid.UUID, target_id: uuid.UUID) -> dict[str, Any]:
    base = await get_version(conn, prompt_version_id=base_id)
    target = await get_version(conn, prompt_version_id=target_id)
    template_diff = "".join(
        difflib.unified_diff(
            base["template"].splitlines(keepends=True),
            target["template"].splitlines(keepends=True),
            fromfile=f"v{base['version']}",
            tofile=f"v{target['version']}",
        )
    )
    changes = [
        {"field": name, "before": base[name], "after": target[name]}
        for name in _COMPARED
        if base[name] != target[name]
    ]
    return {
        "base_version_id": base_id,
        "target_version_id": target_id,
        "base_version": base["version"],
        "target_version": target["version"],
        "template_diff": template_diff,
        "changes": changes,
    }
