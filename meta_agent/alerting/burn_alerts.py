"""SLA burn-rate alerts: every SLA in force is judged by the multiwindow, multi-burn-rate
rules (`burn_rate`) over its counts (`burn_series`), and the verdict becomes a signal:
firing → `sla_at_risk` at the rule's severity (critical for the 14.4× and 6× rules, warning
for 1×); clear → the burn-rate alert clears (only one this source opened: the warehouse's
daily at-risk alert of the same agent judges the whole period and clears itself). A rule held
back for too few executions says nothing either way: a traffic collapse is no recovery.
"""

from __future__ import annotations

import datetime as dt

from meta_agent.alerting.burn_rate import evaluate
from meta_agent.alerting.burn_series import BurnInput, load_burn_inputs, tenants_with_slas
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.db import Database

SOURCE = "burn_rate"


def signal_of(burn: BurnInput, now: dt.datetime) -> Fire | Clear | None:
    """The signal one SLA's windows give at `now` (None: no evidence either way)."""
    verdict = evaluate(burn.counts, burn.error_budget)
    if verdict.fires and verdict.rule is not None:
        return Fire(
            burn.tenant_id,
            burn.agent_id,
            "sla_at_risk",
            f"{{agent}}: SLA {burn.sla_name!r} error budget burning {verdict.rule.name}",
            now,
            summary=verdict.reason,
            details={
                "reason": verdict.reason,
                "sla_definition_id": str(burn.sla_definition_id),
                "sla": burn.sla_name,
                "error_budget": burn.error_budget,
                "rule": verdict.rule.name,
                "rules_firing": [r.name for r in verdict.firing],
                "burn_rates": {str(w): round(r, 3) for w, r in verdict.burn_rates.items()},
                "windows": {
                    str(w): {"executions": c.executions, "failures": c.failures}
                    for w, c in burn.counts.items()
                },
            },
            severity=verdict.severity,
            labels={"sla": burn.sla_name},
            source=SOURCE,
        )
    if verdict.held_back:
        return None
    return Clear(burn.tenant_id, burn.agent_id, "sla_at_risk", now, verdict.reason, SOURCE)


async def burn_rate_signals(db: Database, now: dt.datetime) -> list[Fire | Clear]:
    """The burn-rate signals of every tenant's SLAs at `now`."""
    signals: list[Fire | Clear] = []
    for tenant_id in await tenants_with_slas(db):
        for burn in await load_burn_inputs(db, tenant_id, now):
            signal = signal_of(burn, now)
            if signal is not None:
                signals.append(signal)
    return signals
