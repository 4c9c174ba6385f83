"""Level-triggered repair of the edge-triggered alerts.

The worker fires health and breaker alerts on transitions. A transition whose alert was
never written is a lost alert: the worker died between recording it and firing, or Postgres
refused the alert write (the loop logs that and goes on). So every 30 s one worker compares
the recorded states with the alerts:
- an agent critical or degraded (or a breaker open) whose episode has no alert gets one —
  an episode began at `state_since` / `state_changed_at`, and an alert a person resolved
  after that moment counts (the state does not reopen it; an alert that resolved itself on a
  stale clear does not count);
- an unresolved alert whose state is gone (healthy again, or degraded for a critical alert,
  or a closed breaker) is cleared.

Only fresh health rows are judged (evaluated in the last 2 minutes): a stale row says the
worker is down, not that the agent is well.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from meta_agent.alerting.detectors import FRESH_FOR, tenants_of
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.db import Database

Signal = Fire | Clear

_HEALTH_MISSING = """
select h.agent_id, h.state, h.reason, h.state_since, h.executions_5m, h.failures_5m,
       h.error_rate_5m, h.latency_p95_ms_5m, h.consecutive_failures
from agent_health_realtime as h
where h.state in ('degraded', 'critical') and h.evaluated_at >= %(fresh)s
  and not exists (
      select 1 from alerts as a
      where a.tenant_id = h.tenant_id
        and a.fingerprint = h.agent_id::text || ':health_' || h.state
        and (a.status <> 'resolved' or (a.resolved_at >= h.state_since and not a.auto_resolved))
  )
"""

_HEALTH_GONE = """
select a.agent_id, a.alert_type, h.state
from alerts as a
join agent_health_realtime as h using (tenant_id, agent_id)
where a.status <> 'resolved' and a.clear_since is null
  and a.alert_type in ('health_degraded', 'health_critical')
  and h.evaluated_at >= %(fresh)s
  and (h.state = 'healthy' or (h.state = 'degraded' and a.alert_type = 'health_critical'))
"""

_BREAKER_MISSING = """
select b.agent_id, b.state, b.state_changed_at, b.consecutive_opens, b.forced_by, b.forced_reason
from circuit_breaker_states as b
where b.state in ('open', 'forced_open')
  and not exists (
      select 1 from alerts as a
      where a.tenant_id = b.tenant_id
        and a.fingerprint = b.agent_id::text || ':circuit_opened'
        and (
            a.status <> 'resolved'
            or (a.resolved_at >= b.state_changed_at and not a.auto_resolved)
        )
  )
"""

_BREAKER_GONE = """
select a.agent_id, b.state
from alerts as a
join circuit_breaker_states as b using (tenant_id, agent_id)
where a.status <> 'resolved' and a.clear_since is null and a.alert_type = 'circuit_opened'
  and b.state in ('closed', 'forced_closed')
"""


def _health_fire(tenant_id: uuid.UUID, row: dict[str, Any], now: dt.datetime) -> Fire:
    state = row["state"]
    recent = {
        "executions": row["executions_5m"],
        "failures": row["failures_5m"],
        "error_rate": row["error_rate_5m"],
        "latency_p95_ms": row["latency_p95_ms_5m"],
    }
    return Fire(
        tenant_id,
        row["agent_id"],
        "health_critical" if state == "critical" else "health_degraded",
        f"{{agent}} is {state}",
        now,
        summary=row["reason"] or "",
        details={
            "reason": row["reason"],
            "to_state": state,
            "state_since": row["state_since"].isoformat(),
            "metrics": {
                "five_minutes": recent,
                "consecutive_failures": row["consecutive_failures"],
            },
            "reconciled": True,
        },
        source="health",
    )


def _breaker_fire(tenant_id: uuid.UUID, row: dict[str, Any], now: dt.datetime) -> Fire:
    forced = row["state"] == "forced_open"
    return Fire(
        tenant_id,
        row["agent_id"],
        "circuit_opened",
        "{agent}: circuit forced open" if forced else "{agent}: circuit opened",
        now,
        summary=row["forced_reason"] or "the breaker is open",
        details={
            "forced": forced,
            "actor": row["forced_by"],
            "consecutive_opens": row["consecutive_opens"],
            "opened_at": row["state_changed_at"].isoformat(),
            "reconciled": True,
        },
        source="breaker",
    )


async def reconcile_signals(db: Database, now: dt.datetime) -> list[Signal]:
    """The alerts the recorded health and breaker states say are missing or over."""
    fresh = {"fresh": now - FRESH_FOR}
    signals: list[Signal] = []
    since = now - dt.timedelta(hours=1)
    for tenant_id in await tenants_of(db, "tenants_with_executions_since", since):
        async with db.tenant_transaction(tenant_id) as conn:
            missing = await (await conn.execute(_HEALTH_MISSING, fresh)).fetchall()
            gone = await (await conn.execute(_HEALTH_GONE, fresh)).fetchall()
        signals += [_health_fire(tenant_id, row, now) for row in missing]
        signals += [
            Clear(tenant_id, row["agent_id"], row["alert_type"], now, f"health is {row['state']}")
            for row in gone
        ]
    for tenant_id in await tenants_of(db, "circuit_breaker_tenants"):
        async with db.tenant_transaction(tenant_id) as conn:
            missing = await (await conn.execute(_BREAKER_MISSING)).fetchall()
            gone = await (await conn.execute(_BREAKER_GONE)).fetchall()
        signals += [_breaker_fire(tenant_id, row, now) for row in missing]
        signals += [
            Clear(tenant_id, row["agent_id"], "circuit_opened", now, f"breaker {row['state']}")
            for row in gone
        ]
    return signals
