"""/v1/alert-routes: the tenant's alert routing rules (scope `write` to change them).

Rules are walked in ascending priority; each matching `immediate` rule delivers to its channel
and `stop_after_match` ends the walk. A tenant with no enabled rule sends every alert to every
enabled channel. A rule is switched off with `enabled: false`.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import ReadSession, WriteSession, actor_name
from api.queries import alert_routes as queries
from api.schemas.alert_routes import AlertRoute, AlertRouteCreate, AlertRoutePatch

router = APIRouter(prefix="/alert-routes", tags=["alert routes"])

_RULE = "/{alert_routing_rule_id:uuid}"


@router.get("", response_model=list[AlertRoute], summary="List routing rules in walk order")
async def list_routes(session: ReadSession) -> list[AlertRoute]:
    return [AlertRoute.model_validate(r) for r in await queries.list_rules(session.conn)]


@router.post("", status_code=201, response_model=AlertRoute, summary="Add a routing rule")
async def create_route(body: AlertRouteCreate, session: WriteSession) -> AlertRoute:
    await queries.check_references(
        session.conn, channel_id=body.notification_channel_id, agent_id=body.agent_id
    )
    values = body.model_dump()
    values["severities"] = sorted(set(values["severities"]))
    if values["alert_types"] is not None:
        values["alert_types"] = sorted(set(values["alert_types"]))
    row = await queries.insert_rule(
        session.conn,
        tenant_id=session.tenant_id,
        values=values,
        created_by=await actor_name(session),
    )
    return AlertRoute.model_validate(row)


@router.get(_RULE, response_model=AlertRoute, summary="One routing rule")
async def get_route(alert_routing_rule_id: uuid.UUID, session: ReadSession) -> AlertRoute:
    row = await queries.get_rule(session.conn, rule_id=alert_routing_rule_id)
    return AlertRoute.model_validate(row)


@router.patch(_RULE, response_model=AlertRoute, summary="Change a routing rule")
async def patch_route(
    alert_routing_rule_id: uuid.UUID, body: AlertRoutePatch, session: WriteSession
) -> AlertRoute:
    await queries.get_rule(session.conn, rule_id=alert_routing_rule_id)
    changes = body.model_dump(exclude_unset=True)
    await queries.check_references(
        session.conn,
        channel_id=changes.get("notification_channel_id"),
        agent_id=changes.get("agent_id"),
    )
    for field in ("severities", "alert_types"):
        if changes.get(field) is not None:
            changes[field] = sorted(set(changes[field]))
    row = await queries.update_rule(session.conn, rule_id=alert_routing_rule_id, changes=changes)
    return AlertRoute.model_validate(row)
