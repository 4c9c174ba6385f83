"""/v1/alert-settings: the tenant's alerting policy (dedup window, auto-resolution, severity
per alert type, delivery attempts), kept under `alerting` in the tenant's settings."""

from __future__ import annotations

from fastapi import APIRouter
from psycopg.types.json import Jsonb

from api.deps import ReadSession, WriteSession
from api.schemas.alert_settings import AlertPolicyBody
from meta_agent.alerting.policy import SETTINGS_KEY, AlertPolicy, load_policy

router = APIRouter(prefix="/alert-settings", tags=["alert settings"])


@router.get("", response_model=AlertPolicy, summary="The tenant's alerting policy")
async def get_alert_settings(session: ReadSession) -> AlertPolicy:
    return await load_policy(session.conn, session.tenant_id)


@router.put(
    "",
    response_model=AlertPolicy,
    summary="Replace the tenant's alerting policy (a field left out takes its default)",
)
async def put_alert_settings(body: AlertPolicyBody, session: WriteSession) -> AlertPolicy:
    await session.conn.execute(
        "update tenants set settings = jsonb_set(coalesce(settings, '{}'), %s, %s)"
        " where tenant_id = %s",
        ([SETTINGS_KEY], Jsonb(body.model_dump(mode="json")), session.tenant_id),
    )
    return AlertPolicy.model_validate(body.model_dump())
