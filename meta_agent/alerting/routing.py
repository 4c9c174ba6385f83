"""Which channels hear of an alert's state change, from the tenant's routing rules.

Rules are walked in ascending priority; a rule matches when its agent (or none), its alert
types (or none) and its severities match the alert; every matching `immediate` rule delivers
to its channel, and `stop_after_match` ends the walk. `digest` rules deliver nothing now: the
alert goes into that channel's daily digest instead. A tenant with no enabled rule at all
routes every alert to every enabled channel, so adding a channel is enough to start hearing.

Acknowledgement and resolution go to the channels that were told of the alert before,
whatever the rules say now: whoever heard it opened hears it closed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from meta_agent.alerting.notification import StateChange
from meta_agent.models.alerting import AlertSeverity, AlertType


@dataclass(frozen=True)
class Route:
    notification_channel_id: uuid.UUID
    kind: str
    config: dict[str, Any]


_RULES = """
select r.notification_channel_id, r.agent_id, r.alert_types, r.severities, r.delivery_mode,
       r.stop_after_match, c.kind, c.config, c.enabled as channel_enabled
from alert_routing_rules as r
join notification_channels as c using (tenant_id, notification_channel_id)
where r.enabled
order by r.priority, r.created_at, r.alert_routing_rule_id
"""

_ALL_CHANNELS = """
select notification_channel_id, kind, config from notification_channels
where enabled order by created_at, notification_channel_id
"""

_TOLD = """
select distinct c.notification_channel_id, c.kind, c.config
from alert_deliveries as d
join notification_channels as c using (tenant_id, notification_channel_id)
where d.alert_id = %s and c.enabled and d.state_change not in ('acknowledged', 'resolved')
"""


def _route(row: dict[str, Any]) -> Route:
    return Route(row["notification_channel_id"], row["kind"], row["config"])


async def routes_for(
    conn: AsyncConnection[dict[str, Any]],
    *,
    alert_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    alert_type: AlertType,
    severity: AlertSeverity,
    state_change: StateChange,
) -> list[Route]:
    """The channels to queue this state change for (before each channel's own filter)."""
    if state_change in ("acknowledged", "resolved"):
        return [_route(r) for r in await (await conn.execute(_TOLD, (alert_id,))).fetchall()]
    rules = await (await conn.execute(_RULES)).fetchall()
    if not rules:
        return [_route(r) for r in await (await conn.execute(_ALL_CHANNELS)).fetchall()]
    routes: dict[uuid.UUID, Route] = {}
    for rule in rules:
        if rule["agent_id"] is not None and rule["agent_id"] != agent_id:
            continue
        if rule["alert_types"] is not None and alert_type not in rule["alert_types"]:
            continue
        if severity not in rule["severities"]:
            continue
        if rule["delivery_mode"] == "immediate" and rule["channel_enabled"]:
            routes.setdefault(rule["notification_channel_id"], _route(rule))
        if rule["stop_after_match"]:
            break
    return list(routes.values())
