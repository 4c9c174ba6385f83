"""Queueing notifications: each state change of an alert becomes one `alert_deliveries` row
per routed channel, in the transaction that changed the alert, with the notification
snapshotted into its payload. The row's unique key (alert, channel, state change, sequence)
is what makes delivery exactly once: a second worker, or a retried transaction, queueing the
same state change inserts nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from meta_agent.alerting.channels import channel_for
from meta_agent.alerting.notification import AlertSnapshot, Notification, StateChange
from meta_agent.alerting.routing import routes_for
from meta_agent.settings import Settings


@dataclass(frozen=True)
class Links:
    """Where notifications point people: the API's public address and the Dagster UI."""

    api_url: str | None = None
    dagster_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Links:
        api = settings.public_url or f"http://{settings.api_host}:{settings.api_port}"
        return cls(api_url=api, dagster_url=settings.dagster_url)

    def for_alert(self, alert_id: uuid.UUID, agent_id: uuid.UUID | None) -> dict[str, str]:
        links: dict[str, str] = {}
        if self.api_url:
            base = self.api_url.rstrip("/")
            links["alert"] = f"{base}/v1/alerts/{alert_id}"
            if agent_id is not None:
                links["agent_health"] = f"{base}/v1/agents/{agent_id}/health"
        if self.dagster_url:
            links["dagster"] = self.dagster_url
        return links


ALERT_VIEW = """
select a.*, g.name as agent_name, t.name as tenant_name
from alerts as a
join tenants as t using (tenant_id)
left join agents as g using (tenant_id, agent_id)
where a.alert_id = %s
"""

_QUEUE = """
insert into alert_deliveries (
    alert_delivery_id, tenant_id, alert_id, notification_channel_id, state_change, sequence,
    payload
) values (%s, %s, %s, %s, %s, %s, %s)
on conflict do nothing
returning alert_delivery_id
"""


def snapshot(row: dict[str, Any], suppressed_since_last: int) -> AlertSnapshot:
    """The alert as a notification shows it, from an `ALERT_VIEW` row."""
    return AlertSnapshot(
        alert_id=row["alert_id"],
        alert_type=row["alert_type"],
        severity=row["severity"],
        status=row["status"],
        title=row["title"],
        summary=row["summary"],
        agent_id=row["agent_id"],
        agent_name=row["agent_name"],
        labels=row["labels"],
        details=row["details"],
        occurrence_count=row["occurrence_count"],
        suppressed_since_last=suppressed_since_last,
        suppressed_total=row["suppressed_count"],
        first_seen_at=row["first_seen_at"],
        last_seen_at=row["last_seen_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        auto_resolved=row["auto_resolved"],
    )


async def queue(
    conn: AsyncConnection[dict[str, Any]],
    alert_id: uuid.UUID,
    state_change: StateChange,
    *,
    at: dt.datetime,
    suppressed_since_last: int,
    links: Links,
    sequence: int = 0,
) -> int:
    """Queue `state_change` of the alert for every channel that should hear of it; how many
    deliveries were queued (0 on a replay)."""
    row = await (await conn.execute(ALERT_VIEW, (alert_id,))).fetchone()
    if row is None:
        return 0
    alert = snapshot(row, suppressed_since_last)
    routes = await routes_for(
        conn,
        alert_id=alert_id,
        agent_id=alert.agent_id,
        alert_type=alert.alert_type,
        severity=alert.severity,
        state_change=state_change,
    )
    queued = 0
    for route in routes:
        delivery_id = uuid.uuid4()
        notification = Notification(
            delivery_id=delivery_id,
            tenant_id=row["tenant_id"],
            tenant_name=row["tenant_name"],
            state_change=state_change,
            at=at,
            alert=alert,
            links=links.for_alert(alert_id, alert.agent_id),
        )
        if not channel_for(route.kind).wants(notification, route.config):
            continue
        cursor = await conn.execute(
            _QUEUE,
            (
                delivery_id,  # the payload's idempotency key is the row's id
                row["tenant_id"],
                alert_id,
                route.notification_channel_id,
                state_change,
                sequence,
                Jsonb(notification.model_dump(mode="json")),
            ),
        )
        queued += cursor.rowcount
    return queued
