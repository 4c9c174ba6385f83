"""Alerting: notification channels, routing rules, alerts, deliveries, silences (migration 0004)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal, get_args

from pydantic import AwareDatetime, Field

from meta_agent.models.base import JsonObject, Name, SecretEnvVar, TableModel

ChannelKind = Literal["slack", "email", "clickup", "webhook"]
AlertSeverity = Literal["info", "warning", "critical", "emergency"]
AlertType = Literal[
    "health_degraded",
    "health_critical",
    "circuit_opened",
    "error_rate_spike",
    "latency_spike",
    "cost_spike",
    "budget_exceeded",
    "silence",
    "sla_at_risk",
    "sla_breached",
]
DeliveryMode = Literal["immediate", "digest"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
AlertStateChange = Literal[
    "opened",
    "escalated_warning",
    "escalated_critical",
    "escalated_emergency",
    "repeated",
    "acknowledged",
    "resolved",
    "digest",
]
DeliveryStatus = Literal["pending", "sent", "failed", "dead_letter"]


class NotificationChannel(TableModel):
    """Where alerts go; the secret is an env var name or ciphertext, never the secret itself."""

    __table__ = "public.notification_channels"

    notification_channel_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: ChannelKind
    name: Name
    supports_digest: bool = False
    config: JsonObject = Field(default_factory=dict)
    secret_env_var: SecretEnvVar | None = None
    secret_ciphertext: bytes | None = Field(default=None, min_length=1, repr=False)
    enabled: bool = True
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AlertRoutingRule(TableModel):
    """Matched in ascending priority; None for agent_id or alert_types matches everything."""

    __table__ = "public.alert_routing_rules"

    alert_routing_rule_id: uuid.UUID
    tenant_id: uuid.UUID
    notification_channel_id: uuid.UUID
    name: str = Field(default="", max_length=200)
    agent_id: uuid.UUID | None = None
    severities: list[AlertSeverity] = Field(
        default_factory=lambda: list(get_args(AlertSeverity)), min_length=1
    )
    alert_types: list[AlertType] | None = Field(default=None, min_length=1)
    delivery_mode: DeliveryMode = "immediate"
    priority: int = Field(default=100, ge=0)
    stop_after_match: bool = False
    enabled: bool = True
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class Alert(TableModel):
    """One occurrence of a problem, from first seen until resolved."""

    __table__ = "public.alerts"

    alert_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None = None
    alert_type: AlertType
    severity: AlertSeverity
    status: AlertStatus = "open"
    fingerprint: str = Field(min_length=1, max_length=512)
    title: str = Field(min_length=1, max_length=500)
    summary: str = ""
    # what silences match against (labels @> matchers)
    labels: JsonObject = Field(default_factory=dict)
    details: JsonObject = Field(default_factory=dict)
    occurrence_count: int = Field(default=1, gt=0)
    # repeats swallowed by deduplication or a silence
    suppressed_count: int = Field(default=0, ge=0)
    first_seen_at: AwareDatetime
    last_seen_at: AwareDatetime
    acknowledged_at: AwareDatetime | None = None
    acknowledged_by: str | None = None
    resolved_at: AwareDatetime | None = None
    resolved_by: str | None = None
    auto_resolved: bool = False
    # deduplication and auto-resolution (migration 0016)
    notified_at: AwareDatetime | None = None
    suppressed_since_notified: int = Field(default=0, ge=0)
    reminders: int = Field(default=0, ge=0)
    clear_since: AwareDatetime | None = None
    seconds_to_acknowledge: float | None = None
    seconds_to_resolve: float | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AlertDelivery(TableModel):
    """One alert × channel × state change (× reminder sequence), or one tenant's daily digest
    on a channel; the unique key makes it exactly once, the lease keeps two senders apart."""

    __table__ = "public.alert_deliveries"

    alert_delivery_id: uuid.UUID
    tenant_id: uuid.UUID
    alert_id: uuid.UUID | None = None  # None for the digest
    notification_channel_id: uuid.UUID
    state_change: AlertStateChange
    sequence: int = Field(default=0, ge=0)
    digest_date: dt.date | None = None
    payload: JsonObject = Field(default_factory=dict)
    claimed_until: AwareDatetime | None = None
    status: DeliveryStatus = "pending"
    attempts: int = Field(default=0, ge=0)
    next_attempt_at: AwareDatetime | None = None
    last_error: str | None = None
    response_code: int | None = Field(default=None, ge=100, le=599)
    # the provider's id (Slack ts, ClickUp task id), to update the same message later
    external_ref: str | None = None
    sent_at: AwareDatetime | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AlertSilence(TableModel):
    """Mutes alerts whose labels contain every matcher, from starts_at until ends_at."""

    __table__ = "public.alert_silences"

    alert_silence_id: uuid.UUID
    tenant_id: uuid.UUID
    matchers: JsonObject = Field(min_length=1)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: Name
    comment: str = ""
    created_at: AwareDatetime
    updated_at: AwareDatetime
