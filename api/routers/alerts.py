"""/v1/alerts: what the alert engine opened, filtered and paginated; one alert with its
deliveries; acknowledging and resolving (recorded with the key, notified like the engine's own
state changes). /v1/alert-deliveries: the outbox, dead letters included, and their retry."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from api.deps import AlertEngineDep, ReadSession, Session, WriteSession, actor_name
from api.errors import ApiError, not_found
from api.queries import alerts as queries
from api.schemas.alerts import AlertAction, AlertDelivery, AlertDetail, AlertSummary
from api.schemas.common import Page, PageLimit, Text, Timestamp
from meta_agent.alerting.engine import AlertEngine, AlertNotFound, AlertStateConflict
from meta_agent.models.alerting import AlertSeverity, AlertStatus, AlertType, DeliveryStatus

router = APIRouter(tags=["alerts"])

Cursor = Annotated[Text | None, Query(max_length=1000)]
_ALERT = "/alerts/{alert_id:uuid}"
# the body is optional: a bare POST acknowledges or resolves
OptionalAction = Annotated[AlertAction | None, Body()]


@router.get("/alerts", response_model=Page[AlertSummary], summary="List alerts, newest first")
async def list_alerts(
    session: ReadSession,
    status: Annotated[list[AlertStatus] | None, Query(description="Repeatable.")] = None,
    severity: Annotated[list[AlertSeverity] | None, Query(description="Repeatable.")] = None,
    alert_type: Annotated[list[AlertType] | None, Query(description="Repeatable.")] = None,
    agent: Annotated[uuid.UUID | None, Query(description="Only this agent's alerts.")] = None,
    since: Annotated[
        Timestamp | None, Query(description="First seen at or after (ISO 8601, with a zone).")
    ] = None,
    until: Annotated[
        Timestamp | None, Query(description="First seen before (ISO 8601, with a zone).")
    ] = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> Page[AlertSummary]:
    rows, next_cursor = await queries.list_alerts(
        session.conn,
        statuses=status,
        severities=severity,
        alert_types=alert_type,
        agent_id=agent,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[AlertSummary.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(_ALERT, response_model=AlertDetail, summary="One alert with its deliveries")
async def get_alert(alert_id: uuid.UUID, session: ReadSession) -> AlertDetail:
    return AlertDetail.model_validate(await queries.get_alert(session.conn, alert_id=alert_id))


async def _act(
    action: str, session: Session, engine: AlertEngine, alert_id: uuid.UUID
) -> AlertDetail:
    by = await actor_name(session)
    at = dt.datetime.now(dt.UTC)
    # the engine's own transaction: it locks the alert, changes it and queues its
    # notifications together; RLS confines it to the key's tenant as it does this request
    change = engine.acknowledge if action == "acknowledge" else engine.resolve
    try:
        await change(session.tenant_id, alert_id, by=by, at=at)
    except AlertNotFound:
        raise not_found("alert") from None
    except AlertStateConflict as exc:
        raise ApiError(409, f"the alert is {exc.status}: it cannot be {action}d") from None
    return AlertDetail.model_validate(await queries.get_alert(session.conn, alert_id=alert_id))


@router.post(
    f"{_ALERT}/acknowledge",
    response_model=AlertDetail,
    summary="Acknowledge an open alert (no more reminders; its channels hear who)",
)
async def acknowledge_alert(
    alert_id: uuid.UUID, session: WriteSession, engine: AlertEngineDep, body: OptionalAction = None
) -> AlertDetail:
    return await _act("acknowledge", session, engine, alert_id)


@router.post(
    f"{_ALERT}/resolve",
    response_model=AlertDetail,
    summary="Resolve an alert (its fingerprint's next firing opens a new one)",
)
async def resolve_alert(
    alert_id: uuid.UUID, session: WriteSession, engine: AlertEngineDep, body: OptionalAction = None
) -> AlertDetail:
    return await _act("resolve", session, engine, alert_id)


@router.get(
    "/alert-deliveries",
    response_model=Page[AlertDelivery],
    summary="The notification outbox, newest first (`status=dead_letter`: the dead letters)",
)
async def list_deliveries(
    session: ReadSession,
    status: Annotated[list[DeliveryStatus] | None, Query(description="Repeatable.")] = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> Page[AlertDelivery]:
    rows, next_cursor = await queries.list_deliveries(
        session.conn, statuses=status, limit=limit, cursor=cursor
    )
    return Page(items=[AlertDelivery.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/alert-deliveries/{alert_delivery_id:uuid}/retry",
    response_model=AlertDelivery,
    summary="Queue a dead-lettered delivery again, due now, with its attempts reset",
)
async def retry_delivery(alert_delivery_id: uuid.UUID, session: WriteSession) -> AlertDelivery:
    row = await queries.retry_delivery(session.conn, alert_delivery_id=alert_delivery_id)
    return AlertDelivery.model_validate(row)
