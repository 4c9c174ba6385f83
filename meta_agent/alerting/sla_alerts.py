"""SLA alerts from the warehouse: each agent's day in `marts.sla_daily_compliance` becomes
signals for the alert engine.

Per agent and day:
- not compliant → `sla_breached` fires; not `sla_at_risk` as well, whatever the budget: the
  breach alert carries the budget consumed, and one alert per bad day is enough;
- compliant but at risk (≥ 80 % of the day's error budget consumed) → `sla_at_risk` fires
  and `sla_breached` clears;
- compliant and not at risk (or without a budget) → both clear.

The realtime burn-rate rules raise `sla_at_risk` too, under the same fingerprint (tenant,
agent, type): both sides count into one alert, and a clear here is cancelled by their next
firing (the engine's clear-then-repeat rule), so neither side hides the other.

Signals carry the moment they are raised, not the day judged: deduplication and reminders
work on notification times, and a backfill of last month must not look like last month's
news. The day is in the details (`day`) and the labels (`sla_day`).

Days judged out of order (a backfill): an open alert resting on a later day than the one
judged (its `day`, or for a realtime alert the day it was last seen) is neither updated nor
cleared by it. A backfilled bad day with no open alert still opens one, now, saying its day.

The mart is read as the owner role (the batch pipeline's, which bypasses RLS): every
tenant's rows in one query. The engine then works tenant by tenant, as either role.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.db import Database
from meta_agent.models.alerting import AlertType

SOURCE = "warehouse"

# each breachable metric: its measured column and its target column in the mart
METRIC_COLUMNS = {
    "availability": ("availability", "target_availability"),
    "success_rate": ("success_rate", "target_success_rate"),
    "p95_latency": ("latency_p95_ms", "target_p95_latency_ms"),
    "cost_per_execution": ("cost_per_execution_usd", "max_cost_per_execution_usd"),
}
AT_RISK_FROM = 0.8  # the mart's is_at_risk threshold, for the details

# the day's rows, with the agent's name, its top failure category (the mart attributes one to
# breaches only; an at-risk day deserves one too) and, per SLA alert type, the day of the
# evidence behind the agent's unresolved alert: the day judged for an alert raised here, the
# day last seen for one the realtime side raised; NULL without one
_OPEN_EVIDENCE_DAY = """
(select case when a.labels ->> 'source' = 'warehouse' then (a.details ->> 'day')::date
        else (a.last_seen_at at time zone 'UTC')::date end
 from public.alerts as a
 where a.tenant_id = s.tenant_id and a.agent_id = s.agent_id and a.status <> 'resolved'
   and a.alert_type = '{alert_type}')
"""

_DAY = f"""
select
    s.*,
    g.name as agent_name,
    top.cause_category as top_error_category,
    top.failure_count as top_error_category_count,
    {_OPEN_EVIDENCE_DAY.format(alert_type="sla_breached")} as open_breach_day,
    {_OPEN_EVIDENCE_DAY.format(alert_type="sla_at_risk")} as open_at_risk_day
from marts.sla_daily_compliance as s
-- an agent deleted since has nothing to alert on (alerts reference agents)
join public.agents as g on g.tenant_id = s.tenant_id and g.agent_id = s.agent_id
left join lateral (
    select e.cause_category, sum(e.failure_count)::bigint as failure_count
    from marts.agent_error_distribution as e
    where e.tenant_id = s.tenant_id and e.agent_id = s.agent_id
      and e.execution_date = s.execution_date
    group by e.cause_category
    having sum(e.failure_count) > 0
    order by 2 desc, 1
    limit 1
) as top on true
where s.execution_date = %s
order by s.tenant_id, s.agent_id
"""


@dataclass
class TenantCounts:
    judged: int = 0  # agent-days read
    breached: int = 0  # sla_breached fired
    at_risk: int = 0  # sla_at_risk fired
    opened: int = 0  # of those firings, how many opened a new alert
    cleared: int = 0  # open SLA alerts marked clear
    skipped: int = 0  # firings left out: the open alert is about a later day
    queued: int = 0  # deliveries queued


@dataclass
class SlaAlertReport:
    day: dt.date
    tenants: dict[uuid.UUID, TenantCounts] = field(
        default_factory=lambda: defaultdict(TenantCounts)
    )

    def total(self, name: str) -> int:
        return sum(getattr(counts, name) for counts in self.tenants.values())

    def as_metadata(self) -> dict[str, dict[str, int]]:
        return {str(tenant): vars(counts) for tenant, counts in self.tenants.items()}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def details_of(row: dict[str, Any], metric: str) -> dict[str, Any]:
    """What the alert shows: the metric, its measured value against its target, the error
    budget consumed and the failures behind it, for the day judged."""
    if metric == "error_budget":
        measured, target = row["error_budget_consumed"], 1.0
    else:
        measured_column, target_column = METRIC_COLUMNS[metric]
        measured, target = row[measured_column], row[target_column]
    breached = row["breached_metrics"]
    return {
        "day": row["execution_date"].isoformat(),
        "sla_name": row["sla_name"],
        "sla_definition_id": str(row["sla_definition_id"]),
        "metric": metric,
        "measured_value": _number(measured),
        "target": _number(target),
        "breached_metrics": breached.split(",") if breached else [],
        "error_budget": _number(row["error_budget"]),
        "error_budget_consumed": _number(row["error_budget_consumed"]),
        "at_risk_from": AT_RISK_FROM,
        "error_budget_exhausted": bool(row["is_error_budget_exhausted"]),
        "top_error_category": row["top_error_category"],
        "top_error_category_count": row["top_error_category_count"],
        "execution_count": row["execution_count"],
        "failure_count": row["failure_count"],
        "success_rate": _number(row["success_rate"]),
        "target_success_rate": _number(row["target_success_rate"]),
    }


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.0%}"


def fire_of(row: dict[str, Any], at: dt.datetime) -> Fire:
    """The signal a non-compliant or at-risk day raises."""
    day, agent = row["execution_date"].isoformat(), row["agent_name"]
    consumed = _percent(row["error_budget_consumed"])
    alert_type: AlertType
    if not row["is_compliant"]:
        alert_type, metric = "sla_breached", row["primary_breached_metric"]
        details = details_of(row, metric)
        title = f"SLA breached: {agent} missed its {metric} target on {day}"
        summary = (
            f"{metric} {details['measured_value']} against a target of {details['target']}"
            f" (breached: {', '.join(details['breached_metrics'])}); {consumed} of the day's"
            f" error budget consumed; top failure category: {row['top_error_category'] or '-'}."
        )
    else:
        alert_type = "sla_at_risk"
        details = details_of(row, "error_budget")
        title = f"SLA at risk: {agent} consumed {consumed} of its error budget on {day}"
        summary = (
            f"{row['failure_count']} of {row['decided_execution_count']} decided executions"
            f" failed; the SLA allows {_percent(row['error_budget'])}. Top failure category:"
            f" {row['top_error_category'] or '-'}."
        )
    return Fire(
        tenant_id=row["tenant_id"],
        agent_id=row["agent_id"],
        alert_type=alert_type,
        title=title,
        summary=summary,
        at=at,
        details=details,
        labels={"sla_day": day, "sla_name": row["sla_name"] or ""},
        source=SOURCE,
    )


async def raise_sla_alerts(
    engine: AlertEngine, db: Database, *, day: dt.date, at: dt.datetime | None = None
) -> SlaAlertReport:
    """Fire and clear the SLA alerts of every agent judged on `day` (see the module
    docstring). `db` must be the owner role's; `at` is the moment raised (default now)."""
    at = at or dt.datetime.now(dt.UTC)
    async with db.transaction() as conn:
        rows = await (await conn.execute(_DAY, (day,))).fetchall()
    report = SlaAlertReport(day)
    for row in rows:
        counts = report.tenants[row["tenant_id"]]
        counts.judged += 1
        signal = fire_of(row, at) if not row["is_compliant"] or row["is_at_risk"] else None
        clears: list[AlertType] = []
        if row["is_compliant"]:
            clears.append("sla_breached")
            if not row["is_at_risk"]:
                clears.append("sla_at_risk")
        if signal is not None and _newer(row, signal.alert_type, day):
            signal = None  # the open alert already says something about a later day
            counts.skipped += 1
        if signal is not None:
            outcome = await engine.fire(signal)
            if signal.alert_type == "sla_breached":
                counts.breached += 1
            else:
                counts.at_risk += 1
            counts.opened += outcome.opened
            counts.queued += outcome.queued
        for alert_type in clears:
            evidence = row[_EVIDENCE_COLUMN[alert_type]]
            if evidence is None or evidence > day:
                continue  # nothing open, or it is about a later day than this one
            reason = f"SLA compliant on {day.isoformat()}"
            cleared = await engine.clear(
                Clear(row["tenant_id"], row["agent_id"], alert_type, at, reason=reason)
            )
            counts.cleared += cleared is not None
    return report


_EVIDENCE_COLUMN: dict[AlertType, str] = {
    "sla_breached": "open_breach_day",
    "sla_at_risk": "open_at_risk_day",
}


def _newer(row: dict[str, Any], alert_type: AlertType, day: dt.date) -> bool:
    """Whether the agent's open alert of the type rests on a later day than `day` (a backfill
    of an old day must neither rewrite its details nor clear it)."""
    evidence = row[_EVIDENCE_COLUMN[alert_type]]
    return evidence is not None and evidence > day
