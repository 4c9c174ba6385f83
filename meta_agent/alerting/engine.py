"""The alert engine: signals in, alert rows and queued deliveries out, each in one tenant
transaction, so an alert's state and the notifications it owes never disagree.

- `fire`: opens the fingerprint's alert, or counts a repeat on the unresolved one (the dedup
  rules are `meta_agent.alerting.dedup`), cancelling a pending auto-resolution;
- `clear`: marks the condition clear; `resolve_cleared` resolves alerts that stayed clear for
  the tenant's `resolve_after_s`;
- `acknowledge` / `resolve`: a person's (or a key's) action, recorded with who and when.

Races: the open alert of a fingerprint is unique (a partial unique index), so two workers
firing at once make one alert: the loser's insert waits for the winner's commit, finds the row
and counts a repeat. Each state change queues its deliveries under a unique key, so it is
queued once however many times it is attempted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from meta_agent.alerting import dedup, engine_sql, outbox
from meta_agent.alerting.notification import StateChange
from meta_agent.alerting.outbox import Links
from meta_agent.alerting.policy import AlertPolicy, load_policy
from meta_agent.alerting.severity import severity_of
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.alerting.top_error import FAILING_TYPES, top_error
from meta_agent.db import Database
from meta_agent.errors import MetaAgentError
from meta_agent.models.alerting import AlertSeverity


class AlertNotFound(MetaAgentError, LookupError):
    """No alert with that id in the tenant."""


class AlertStateConflict(MetaAgentError):
    """The action does not apply to the alert's current status (e.g. resolving it twice)."""

    def __init__(self, alert_id: uuid.UUID, status: str, action: str) -> None:
        super().__init__(f"alert {alert_id} is {status}: cannot {action} it")
        self.status = status


@dataclass(frozen=True)
class Outcome:
    """What one signal or action did to an alert."""

    alert_id: uuid.UUID
    severity: AlertSeverity
    opened: bool  # this call opened the alert
    state_change: StateChange | None  # what was notified; None: suppressed or nothing owed
    queued: int  # deliveries queued for it
    title: str = ""


class AlertEngine:
    def __init__(
        self,
        db: Database,
        *,
        links: Links | None = None,
        on_queued: Callable[[int], None] | None = None,
    ) -> None:
        self.db = db
        self.links = links or Links()
        # told how many deliveries a call queued, so a dispatcher can send them at once
        # instead of at its next poll
        self.on_queued = on_queued

    def _queued(self, count: int) -> int:
        if count and self.on_queued is not None:
            self.on_queued(count)
        return count

    async def fire(self, signal: Fire) -> Outcome:
        """Count one firing of the signal's condition; notify what dedup says is owed."""
        async with self.db.tenant_transaction(signal.tenant_id) as conn:
            # the tenant's policy, the agent's name and any silence, in one round trip
            cursor = await conn.execute(
                engine_sql.CONTEXT,
                {
                    "tenant_id": signal.tenant_id,
                    "agent_id": signal.agent_id,
                    "at": signal.at,
                    "labels": Jsonb(_labels(signal)),
                },
            )
            context = await cursor.fetchone()
            assert context is not None  # RLS shows the tenant its own row
            policy = AlertPolicy.from_settings(context["settings"])
            severity = severity_of(signal.alert_type, signal.details, policy, signal.severity)
            labels = _labels(signal, context["agent"])
            silenced = bool(context["silenced"])
            # "{agent}" in a title is the agent's name, which detectors do not know
            name = context["agent"] or ("tenant" if signal.agent_id is None else "agent")
            signal = replace(signal, title=signal.title.replace("{agent}", name))
            for _ in range(3):  # the open alert may be resolved between our insert and select
                outcome = await self._open(conn, signal, severity, labels, silenced)
                if outcome is None:
                    outcome = await self._repeat(conn, signal, severity, policy, silenced)
                if outcome is not None:
                    break
            else:
                raise RuntimeError(f"alert {signal.fingerprint} neither opened nor found")
        self._queued(outcome.queued)
        return outcome

    async def _open(
        self,
        conn: AsyncConnection[dict[str, Any]],
        signal: Fire,
        severity: AlertSeverity,
        labels: dict[str, str],
        silenced: bool,
    ) -> Outcome | None:
        verdict = dedup.on_open(silenced=silenced, severity=severity)
        cursor = await conn.execute(
            engine_sql.OPEN,
            (
                signal.tenant_id,
                signal.agent_id,
                signal.alert_type,
                severity,
                signal.fingerprint,
                signal.title[:500],
                signal.summary,
                Jsonb(labels),
                Jsonb(signal.details),
                signal.at,
                signal.at,
                None if verdict.suppressed else signal.at,
                1 if verdict.suppressed else 0,
                1 if verdict.suppressed else 0,
            ),
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        queued = await self._notify(conn, row["alert_id"], verdict, signal, suppressed=0)
        return Outcome(row["alert_id"], severity, True, verdict.state_change, queued, signal.title)

    async def _repeat(
        self,
        conn: AsyncConnection[dict[str, Any]],
        signal: Fire,
        severity: AlertSeverity,
        policy: AlertPolicy,
        silenced: bool,
    ) -> Outcome | None:
        cursor = await conn.execute(engine_sql.STANDING, (signal.tenant_id, signal.fingerprint))
        row = await cursor.fetchone()
        if row is None:
            return None
        standing = dedup.Standing(
            row["severity"], row["status"], row["notified_at"], row["reminders"]
        )
        verdict = dedup.on_repeat(
            standing,
            severity,
            signal.at,
            window=dt.timedelta(seconds=policy.dedup_window_s),
            silenced=silenced,
        )
        await conn.execute(
            engine_sql.REPEAT,
            {
                "alert_id": row["alert_id"],
                "severity": verdict.severity,
                "title": signal.title[:500],
                "summary": signal.summary,
                "details": Jsonb(signal.details),
                "at": signal.at,
                "suppressed": 1 if verdict.suppressed else 0,
                "notified": not verdict.suppressed,
                "sequence": verdict.sequence,
            },
        )
        queued = await self._notify(
            conn, row["alert_id"], verdict, signal, suppressed=row["suppressed_since_notified"]
        )
        return Outcome(
            row["alert_id"], verdict.severity, False, verdict.state_change, queued, signal.title
        )

    async def _notify(
        self,
        conn: AsyncConnection[dict[str, Any]],
        alert_id: uuid.UUID,
        verdict: dedup.Verdict,
        signal: Fire,
        *,
        suppressed: int,
    ) -> int:
        """Queue what the verdict says is owed (nothing when it suppressed the firing); an
        alert of failing executions first gets the error behind it."""
        if verdict.state_change is None:
            return 0
        if (
            signal.alert_type in FAILING_TYPES
            and signal.agent_id is not None
            and "top_error" not in signal.details
        ):
            top = await top_error(conn, signal.agent_id, signal.at)
            if top is not None:
                await conn.execute(
                    "update alerts set details = details || %s where alert_id = %s",
                    (Jsonb({"top_error": top}), alert_id),
                )
        return await outbox.queue(
            conn,
            alert_id,
            verdict.state_change,
            at=signal.at,
            suppressed_since_last=suppressed,
            links=self.links,
            sequence=verdict.sequence,
        )

    async def clear(self, signal: Clear) -> uuid.UUID | None:
        """Mark the fingerprint's unresolved alert clear (it resolves itself once it stays
        clear for the tenant's resolve_after_s; at 0, now). The alert's id, or None."""
        async with self.db.tenant_transaction(signal.tenant_id) as conn:
            cursor = await conn.execute(
                "update alerts set clear_since = coalesce(clear_since, %s)"
                " where tenant_id = %s and fingerprint = %s and status <> 'resolved'"
                " and (%s::text is null or labels ->> 'source' = %s)"
                # a clear older than the latest firing is stale (it was decided before)
                " and last_seen_at <= %s"
                " returning alert_id",
                (
                    signal.at,
                    signal.tenant_id,
                    signal.fingerprint,
                    signal.source,
                    signal.source,
                    signal.at,
                ),
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            policy = await load_policy(conn, signal.tenant_id)
            if policy.resolve_after_s == 0:
                await self._auto_resolve(conn, signal.tenant_id, signal.at, policy)
        alert_id: uuid.UUID = row["alert_id"]
        return alert_id

    async def resolve_cleared(self, at: dt.datetime) -> int:
        """Resolve every alert, of any tenant, whose condition has stayed clear for its
        tenant's resolve_after_s by `at`; how many were resolved."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute("select app.tenants_with_cleared_alerts(%s) as t", (at,))
            tenants = [r["t"] for r in await cursor.fetchall()]
        resolved = 0
        for tenant_id in tenants:
            async with self.db.tenant_transaction(tenant_id) as conn:
                policy = await load_policy(conn, tenant_id)
                resolved += await self._auto_resolve(conn, tenant_id, at, policy)
        return resolved

    async def _auto_resolve(
        self,
        conn: AsyncConnection[dict[str, Any]],
        tenant_id: uuid.UUID,
        at: dt.datetime,
        policy: AlertPolicy,
    ) -> int:
        cursor = await conn.execute(
            "select alert_id from alerts where tenant_id = %s and status <> 'resolved'"
            " and clear_since <= %s for update skip locked",
            (tenant_id, at - dt.timedelta(seconds=policy.resolve_after_s)),
        )
        rows = await cursor.fetchall()
        for row in rows:
            outcome = await self._close(conn, row["alert_id"], "resolved", at, by=None)
            self._queued(outcome.queued)  # (the caller's commit follows at once)
        return len(rows)

    async def acknowledge(
        self, tenant_id: uuid.UUID, alert_id: uuid.UUID, *, by: str, at: dt.datetime
    ) -> Outcome:
        """Someone is on it: no more reminders; the channels told of it hear who."""
        async with self.db.tenant_transaction(tenant_id) as conn:
            status = await _status(conn, alert_id)
            if status != "open":
                raise AlertStateConflict(alert_id, status, "acknowledge")
            outcome = await self._close(conn, alert_id, "acknowledged", at, by=by)
        self._queued(outcome.queued)
        return outcome

    async def resolve(
        self, tenant_id: uuid.UUID, alert_id: uuid.UUID, *, by: str, at: dt.datetime
    ) -> Outcome:
        """Resolved by a person; the fingerprint's next firing opens a new alert."""
        async with self.db.tenant_transaction(tenant_id) as conn:
            status = await _status(conn, alert_id)
            if status == "resolved":
                raise AlertStateConflict(alert_id, status, "resolve")
            outcome = await self._close(conn, alert_id, "resolved", at, by=by)
        self._queued(outcome.queued)
        return outcome

    async def _close(
        self,
        conn: AsyncConnection[dict[str, Any]],
        alert_id: uuid.UUID,
        change: StateChange,
        at: dt.datetime,
        *,
        by: str | None,
    ) -> Outcome:
        """Acknowledge or resolve (by a person, or automatically when `by` is None)."""
        if change == "acknowledged":
            sets = "status = 'acknowledged', acknowledged_at = %(at)s, acknowledged_by = %(by)s"
        else:
            sets = (
                "status = 'resolved', resolved_at = greatest(%(at)s, first_seen_at),"
                " resolved_by = %(by)s, auto_resolved = %(by)s::text is null, clear_since = null"
            )
        cursor = await conn.execute(
            "select suppressed_since_notified, severity, title from alerts where alert_id = %s",
            (alert_id,),
        )
        before = await cursor.fetchone()
        assert before is not None  # the caller holds the row locked
        await conn.execute(
            f"update alerts set {sets}, notified_at = %(at)s, suppressed_since_notified = 0"
            " where alert_id = %(alert_id)s",
            {"at": at, "by": by, "alert_id": alert_id},
        )
        queued = await outbox.queue(
            conn,
            alert_id,
            change,
            at=at,
            suppressed_since_last=before["suppressed_since_notified"],
            links=self.links,
        )
        return Outcome(alert_id, before["severity"], False, change, queued, before["title"])


async def _status(conn: AsyncConnection[dict[str, Any]], alert_id: uuid.UUID) -> str:
    cursor = await conn.execute(
        "select status from alerts where alert_id = %s for update", (alert_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        raise AlertNotFound(f"no alert {alert_id}")
    return str(row["status"])


def _labels(signal: Fire, agent: str | None = None) -> dict[str, str]:
    """What silences match: the agent (id and name), the type, the source, and the signal's
    own labels."""
    labels = {"alert_type": signal.alert_type, "source": signal.source}
    if signal.agent_id is not None:
        labels["agent_id"] = str(signal.agent_id)
    if agent is not None:
        labels["agent"] = agent
    return {**labels, **signal.labels}
