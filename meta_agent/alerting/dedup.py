"""Deduplication as a pure function: an unresolved alert's standing + a repeat of its
condition + now → whether this repeat notifies, and as which state change. No I/O, no clock.

One notification per state change: the alert opening, each escalation to a worse severity,
a reminder once the dedup window has passed since the last notification (Alertmanager's
repeat_interval), acknowledgement and resolution. Every other repeat is suppressed: counted on
the alert, and reported by the next notification. A silenced alert notifies nothing (its
repeats are counted as suppressed too); an acknowledged one sends no reminders, since someone
is on it, but an escalation still goes out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from meta_agent.alerting.notification import StateChange
from meta_agent.alerting.severity import RANK, worse
from meta_agent.models.alerting import AlertSeverity


@dataclass(frozen=True)
class Standing:
    """What deduplication needs to know of an unresolved alert."""

    severity: AlertSeverity
    status: Literal["open", "acknowledged"]
    notified_at: dt.datetime | None  # None: never notified (it opened silenced)
    reminders: int = 0


@dataclass(frozen=True)
class Verdict:
    """What a repeat does: notify as `state_change` (None: suppressed), leaving `severity`;
    `sequence` numbers reminders so each is its own delivery."""

    state_change: StateChange | None
    severity: AlertSeverity
    sequence: int = 0

    @property
    def suppressed(self) -> bool:
        return self.state_change is None


def on_open(*, silenced: bool, severity: AlertSeverity) -> Verdict:
    """A new alert notifies that it opened, unless a silence covers it."""
    return Verdict(None if silenced else "opened", severity)


def on_repeat(
    standing: Standing,
    severity: AlertSeverity,
    now: dt.datetime,
    *,
    window: dt.timedelta,
    silenced: bool,
) -> Verdict:
    """A repeat of an unresolved alert's condition, at `severity`, at `now`."""
    kept = worse(standing.severity, severity)  # an open alert never quietly de-escalates
    if silenced:
        return Verdict(None, kept)
    if RANK[severity] > RANK[standing.severity]:
        return Verdict(escalation(severity), kept)
    if standing.notified_at is None:  # it opened under a silence that has ended since
        return Verdict("opened", kept)
    if standing.status == "acknowledged" or now - standing.notified_at < window:
        return Verdict(None, kept)
    return Verdict("repeated", kept, standing.reminders + 1)


def escalation(severity: AlertSeverity) -> StateChange:
    changes: dict[AlertSeverity, StateChange] = {
        "warning": "escalated_warning",
        "critical": "escalated_critical",
        "emergency": "escalated_emergency",
    }
    return changes[severity]  # info is the lowest: nothing escalates to it
