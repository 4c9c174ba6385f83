"""What a channel is asked to say: one state change of one alert (or one tenant's daily
digest), snapshotted into `alert_deliveries.payload` when the state change is queued, so a
retry hours later says what was true then, and the counts of suppressed repeats are the ones
that belong to this notification.

Channels render it (Slack blocks, an e-mail, a ClickUp task, a webhook body); nothing in it is
a secret.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meta_agent.models.alerting import AlertSeverity, AlertStateChange, AlertStatus, AlertType

# the delivery's state change (the values of `alert_deliveries.state_change`): `repeated` is a
# reminder sent when an open alert fires again after the dedup window; `digest` the daily one
StateChange = AlertStateChange

# the event name a webhook consumer (n8n and the like) switches on
EVENT_OF: dict[str, str] = {
    "opened": "alert.opened",
    "escalated_warning": "alert.escalated",
    "escalated_critical": "alert.escalated",
    "escalated_emergency": "alert.escalated",
    "repeated": "alert.repeated",
    "acknowledged": "alert.acknowledged",
    "resolved": "alert.resolved",
    "digest": "alert.digest",
}


class AlertSnapshot(BaseModel):
    """The alert as it was at the state change."""

    model_config = ConfigDict(frozen=True)

    alert_id: uuid.UUID
    alert_type: AlertType
    severity: AlertSeverity
    status: AlertStatus
    title: str
    summary: str = ""
    agent_id: uuid.UUID | None = None
    agent_name: str | None = None
    labels: dict[str, Any] = Field(default_factory=dict)
    # the numbers that caused it: window numbers, thresholds crossed, top error, burn rates
    details: dict[str, Any] = Field(default_factory=dict)
    occurrence_count: int = 1
    # repeats swallowed since the previous notification of this alert (what this one reports)
    suppressed_since_last: int = 0
    # repeats swallowed over the alert's whole life
    suppressed_total: int = 0
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    auto_resolved: bool = False


class DigestAlert(BaseModel):
    model_config = ConfigDict(frozen=True)

    alert_id: uuid.UUID
    alert_type: AlertType
    severity: AlertSeverity
    status: AlertStatus
    title: str
    agent_name: str | None = None
    occurrence_count: int
    suppressed_count: int
    first_seen_at: dt.datetime
    resolved_at: dt.datetime | None = None


class DigestSnapshot(BaseModel):
    """One tenant's day of alerts (UTC)."""

    model_config = ConfigDict(frozen=True)

    day: dt.date
    opened: int
    resolved: int
    suppressed: int  # repeats swallowed during the day, over every alert
    still_open: int
    by_severity: dict[str, int] = Field(default_factory=dict)
    by_type: dict[str, int] = Field(default_factory=dict)
    # the day's alerts, most severe first, at most 50
    alerts: list[DigestAlert] = Field(default_factory=list)


class Notification(BaseModel):
    """Everything a channel needs to render one delivery."""

    model_config = ConfigDict(frozen=True)

    delivery_id: uuid.UUID  # also the idempotency key receivers may dedupe on
    tenant_id: uuid.UUID
    tenant_name: str
    state_change: StateChange
    at: dt.datetime  # when the state change happened
    alert: AlertSnapshot | None = None  # None only for the digest
    digest: DigestSnapshot | None = None
    # where a person goes next: {"alert": API URL of the alert, "agent_health": ...,
    # "dagster": Dagster UI}; absent keys are simply not shown
    links: dict[str, str] = Field(default_factory=dict)
    # the provider's id from this alert's earlier delivery on the same channel (ClickUp task
    # id, Slack ts), so a later state change can update it instead of creating another
    previous_ref: str | None = None
    # this send's attempt at the delivery (1: the first); a later one may find what an earlier
    # one did without hearing back (a ClickUp task created, its answer lost)
    attempt: int = Field(default=1, ge=1)

    @property
    def event(self) -> str:
        return EVENT_OF[self.state_change]
