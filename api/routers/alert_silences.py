"""/v1/alert-silences: mute matching alerts for a while (they are still opened and counted,
but no notification goes out), list them, and end one early (scope `write` to change)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from psycopg.types.json import Jsonb

from api.deps import ReadSession, WriteSession, actor_name
from api.errors import not_found
from api.schemas.alert_silences import Silence, SilenceCreate

router = APIRouter(prefix="/alert-silences", tags=["alert silences"])

_COLUMNS = (
    "alert_silence_id, matchers, starts_at, ends_at, starts_at <= now() and ends_at > now()"
    " as active, created_by, comment, created_at, updated_at"
)


@router.get("", response_model=list[Silence], summary="List silences, latest ending first")
async def list_silences(
    session: ReadSession,
    include_ended: Annotated[bool, Query(description="Also those that have ended.")] = False,
) -> list[Silence]:
    where = "true" if include_ended else "ends_at > now()"
    cursor = await session.conn.execute(
        f"select {_COLUMNS} from alert_silences where {where}"
        " order by ends_at desc, alert_silence_id desc limit 1000"
    )
    return [Silence.model_validate(r) for r in await cursor.fetchall()]


@router.post("", status_code=201, response_model=Silence, summary="Silence matching alerts")
async def create_silence(body: SilenceCreate, session: WriteSession) -> Silence:
    cursor = await session.conn.execute(
        "insert into alert_silences (tenant_id, matchers, starts_at, ends_at, created_by, comment)"
        f" values (%s, %s, coalesce(%s, now()), %s, %s, %s) returning {_COLUMNS}",
        (
            session.tenant_id, Jsonb(body.matchers), body.starts_at, body.ends_at,
            await actor_name(session), body.comment,
        ),
    )  # fmt: skip
    row = await cursor.fetchone()
    assert row is not None
    return Silence.model_validate(row)


@router.post(
    "/{alert_silence_id:uuid}/expire",
    response_model=Silence,
    summary="End a silence now (one that has ended already stays as it is)",
)
async def expire_silence(alert_silence_id: uuid.UUID, session: WriteSession) -> Silence:
    # a silence that has not begun is moved into the past as well, so it never takes effect
    cursor = await session.conn.execute(
        "update alert_silences set ends_at = least(ends_at, now()),"
        " starts_at = least(starts_at, now() - interval '1 millisecond')"
        f" where alert_silence_id = %s returning {_COLUMNS}",
        (alert_silence_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        raise not_found("silence")
    return Silence.model_validate(row)
