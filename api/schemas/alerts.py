"""Alerts and their deliveries as the API shows them (never a channel's secret)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field

from api.schemas.common import ReadModel, Text, WriteModel
from meta_agent.models.alerting import (
    AlertSeverity,
    AlertStateChange,
    AlertStatus,
    AlertType,
    ChannelKind,
    DeliveryStatus,
)


class AlertSummary(ReadModel):
    alert_id: uuid.UUID
    agent_id: uuid.UUID | None
    agent_name: str | None
    alert_type: AlertType
    severity: AlertSeverity
    status: AlertStatus
    fingerprint: str
    title: str
    summary: str
    labels: dict[str, Any]
    details: dict[str, Any] = Field(description="The numbers behind the alert.")
    occurrence_count: int = Field(description="Firings counted into this alert.")
    suppressed_count: int = Field(description="Repeats swallowed by deduplication or silences.")
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    notified_at: dt.datetime | None = Field(description="When its last notification was queued.")
    clear_since: dt.datetime | None = Field(
        description="Its condition cleared then; it resolves itself if it stays clear."
    )
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    resolved_by: str | None
    auto_resolved: bool
    seconds_to_acknowledge: float | None
    seconds_to_resolve: float | None


class AlertDelivery(ReadModel):
    """One notification of one state change on one channel."""

    alert_delivery_id: uuid.UUID
    alert_id: uuid.UUID | None = Field(description="Null for a daily digest.")
    notification_channel_id: uuid.UUID
    channel_name: str
    channel_kind: ChannelKind
    state_change: AlertStateChange
    sequence: int = Field(description="The reminder's number; 0 for every other state change.")
    digest_date: dt.date | None
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    response_code: int | None
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AlertDetail(AlertSummary):
    deliveries: list[AlertDelivery] = Field(description="Oldest first.")


class AlertAction(WriteModel):
    """An optional note; it is not stored (the actor and time are)."""

    comment: Text | None = Field(default=None, max_length=2000)
