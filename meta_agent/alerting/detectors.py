"""Periodic detectors the realtime alert loop runs (one worker at a time, under a lock):
spikes against each agent's own baseline (`spikes`), cost budgets, and — in
`burn_alerts` — the SLA burn-rate rules. Each returns the signals it sees at `now`.

They read Postgres as the app role, tenant by tenant: the `app.tenants_with_*` functions say
which tenants to visit, and RLS keeps each read inside one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from meta_agent.alerting.signals import Clear, Fire
from meta_agent.alerting.spikes import Windows, spikes
from meta_agent.db import Database

Signal = Fire | Clear

# a row the sweep has not refreshed for this long belongs to a stopped worker: not judged
FRESH_FOR = dt.timedelta(minutes=2)

_WINDOWS = """
select agent_id, executions_5m, failures_5m, latency_p95_ms_5m, cost_usd_5m,
       executions_1h, failures_1h, latency_p95_ms_1h, cost_usd_1h
from agent_health_realtime
where evaluated_at >= %s
"""


async def tenants_of(db: Database, function: str, *args: Any) -> list[uuid.UUID]:
    """The tenants one of the `app.tenants_*` functions names (the app role sees no other
    tenant's rows, so it asks)."""
    placeholders = ", ".join(["%s"] * len(args))
    async with db.transaction() as conn:
        cursor = await conn.execute(f"select app.{function}({placeholders}) as t", args)
        return [row["t"] for row in await cursor.fetchall()]


async def spike_signals(db: Database, now: dt.datetime) -> list[Signal]:
    """Error-rate, latency and cost spikes of every agent that ran in the last hour."""
    signals: list[Signal] = []
    since = now - dt.timedelta(hours=1)
    for tenant_id in await tenants_of(db, "tenants_with_executions_since", since):
        async with db.tenant_transaction(tenant_id) as conn:
            rows = await (await conn.execute(_WINDOWS, (now - FRESH_FOR,))).fetchall()
        for row in rows:
            windows = Windows(
                int(row["executions_5m"]),
                int(row["failures_5m"]),
                row["latency_p95_ms_5m"],
                float(row["cost_usd_5m"] or 0),
                int(row["executions_1h"]),
                int(row["failures_1h"]),
                row["latency_p95_ms_1h"],
                float(row["cost_usd_1h"] or 0),
            )
            for spike in spikes(windows):
                if spike.verdict == "fire":
                    signals.append(
                        Fire(
                            tenant_id,
                            row["agent_id"],
                            spike.alert_type,
                            f"{{agent}}: {spike.alert_type.replace('_', ' ')}",
                            now,
                            summary=spike.reason,
                            details={"reason": spike.reason, **spike.details},
                            source="spike",
                        )
                    )
                else:
                    signals.append(
                        Clear(tenant_id, row["agent_id"], spike.alert_type, now, spike.reason)
                    )
    return signals


_BUDGETS = """
select b.cost_budget_id, b.agent_id, b.period, b.amount_usd,
       coalesce(case when b.agent_id is null then
           (select sum(h.cost_usd) from raw.execution_hourly as h
            where h.tenant_id = b.tenant_id
              and h.hour >= case when b.period = 'daily' then %(day)s else %(month)s end)
       else
           (select sum(h.cost_usd) from raw.agent_execution_hourly as h
            where h.tenant_id = b.tenant_id and h.agent_id = b.agent_id
              and h.hour >= case when b.period = 'daily' then %(day)s else %(month)s end)
       end, 0) as spent_usd
from cost_budgets as b
where b.enabled
"""


async def budget_signals(db: Database, now: dt.datetime) -> list[Signal]:
    """`budget_exceeded` for every agent (or tenant) with an enabled budget spent in its
    current period (UTC day or month), cleared once no budget of its is. An agent's daily and
    monthly budgets share its one alert, so they are judged together: it fires while either
    is spent, and says which."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    signals: list[Signal] = []
    for tenant_id in await tenants_of(db, "tenants_with_cost_budgets"):
        async with db.tenant_transaction(tenant_id) as conn:
            cursor = await conn.execute(_BUDGETS, {"day": day, "month": month})
            rows = await cursor.fetchall()
        by_scope: dict[uuid.UUID | None, list[dict[str, Any]]] = {}
        for row in rows:
            by_scope.setdefault(row["agent_id"], []).append(row)
        for agent_id, budgets in by_scope.items():
            spent = [b for b in budgets if float(b["spent_usd"]) >= float(b["amount_usd"])]
            if not spent:
                signals.append(Clear(tenant_id, agent_id, "budget_exceeded", now, "within budget"))
                continue
            worst = max(spent, key=lambda b: float(b["spent_usd"]) / float(b["amount_usd"]))
            why = "; ".join(_spent_text(b) for b in spent)
            signals.append(
                Fire(
                    tenant_id,
                    agent_id,
                    "budget_exceeded",
                    "{agent}: cost budget exceeded",
                    now,
                    summary=why,
                    details={
                        "reason": why,
                        # the worst budget's numbers: the severity rules read these
                        "spent_usd": round(float(worst["spent_usd"]), 4),
                        "budget_usd": float(worst["amount_usd"]),
                        "period": worst["period"],
                        "cost_budget_id": str(worst["cost_budget_id"]),
                        "budgets_exceeded": [
                            {
                                "period": b["period"],
                                "spent_usd": round(float(b["spent_usd"]), 4),
                                "budget_usd": float(b["amount_usd"]),
                            }
                            for b in spent
                        ],
                    },
                    source="budget",
                )
            )
    return signals


def _spent_text(budget: dict[str, Any]) -> str:
    period = "today" if budget["period"] == "daily" else "this month"
    spent, amount = float(budget["spent_usd"]), float(budget["amount_usd"])
    return f"spent ${spent:,.2f} {period} against a {budget['period']} budget of ${amount:,.2f}"
