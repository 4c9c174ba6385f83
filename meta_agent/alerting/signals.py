"""A signal is what a detector says about one agent (or a whole tenant) at one moment: this
alert type's condition holds now (`Fire`), or it no longer does (`Clear`). The engine turns
signals into alerts; detectors never touch alert rows themselves.

The fingerprint is (tenant, agent, type), so one agent has at most one unresolved alert of a
type, however many times its condition fires.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from meta_agent.models.alerting import AlertSeverity, AlertType


def fingerprint(agent_id: uuid.UUID | None, alert_type: AlertType) -> str:
    """The dedup key within a tenant; tenant-wide alerts (no agent) use `tenant`."""
    return f"{agent_id or 'tenant'}:{alert_type}"


@dataclass(frozen=True)
class Fire:
    """The condition of `alert_type` holds for the agent at `at`."""

    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None
    alert_type: AlertType
    title: str
    at: dt.datetime
    summary: str = ""
    # the numbers behind it (window numbers, thresholds crossed, top error, burn rates):
    # severity rules read them and channels show them
    details: dict[str, Any] = field(default_factory=dict)
    # None: from the tenant's policy and the numbers (meta_agent.alerting.severity)
    severity: AlertSeverity | None = None
    # extra labels for silences to match (agent, type and source are always there)
    labels: dict[str, str] = field(default_factory=dict)
    source: str = "realtime"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.agent_id, self.alert_type)


@dataclass(frozen=True)
class Clear:
    """The condition of `alert_type` no longer holds for the agent at `at`."""

    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None
    alert_type: AlertType
    at: dt.datetime
    reason: str = ""
    # only an alert opened by this source clears: the burn-rate rules must not resolve the
    # warehouse's sla_at_risk of the same agent, which judges the whole period's budget
    source: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.agent_id, self.alert_type)
