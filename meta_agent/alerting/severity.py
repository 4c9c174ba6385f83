"""An alert's severity from its type and its numbers, unless the tenant fixed one for the type.

Each type has a base severity; the numbers can raise it (never lower it):
- health_critical → emergency when most recent executions fail (5-min error rate ≥ 0.9 over
  at least 20 executions): the agent is not degraded, it is down;
- circuit_opened → emergency once the breaker has opened 3 times in a row (its backoff grows:
  probes keep failing);
- error_rate_spike → critical at a 5-min error rate ≥ 0.5;
- latency_spike / cost_spike → critical at ≥ 5× / ≥ 10× the agent's own baseline;
- budget_exceeded → emergency at ≥ 2× the budget.
A forced open (a person did it) is info: nobody needs to be told what they just did.
"""

from __future__ import annotations

from typing import Any

from meta_agent.alerting.policy import AlertPolicy
from meta_agent.models.alerting import AlertSeverity, AlertType

RANK: dict[AlertSeverity, int] = {"info": 0, "warning": 1, "critical": 2, "emergency": 3}

BASE: dict[AlertType, AlertSeverity] = {
    "health_degraded": "warning",
    "health_critical": "critical",
    "circuit_opened": "critical",
    "error_rate_spike": "warning",
    "latency_spike": "warning",
    "cost_spike": "warning",
    "budget_exceeded": "critical",
    "silence": "warning",
    "sla_at_risk": "warning",
    "sla_breached": "critical",
}


def worse(a: AlertSeverity, b: AlertSeverity) -> AlertSeverity:
    return a if RANK[a] >= RANK[b] else b


def _number(details: dict[str, Any], *path: str) -> float | None:
    value: Any = details
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def _raised(alert_type: AlertType, d: dict[str, Any]) -> AlertSeverity | None:
    if alert_type == "health_critical":
        rate = _number(d, "metrics", "five_minutes", "error_rate")
        runs = _number(d, "metrics", "five_minutes", "executions") or 0
        return "emergency" if rate is not None and rate >= 0.9 and runs >= 20 else None
    if alert_type == "circuit_opened":
        if d.get("forced"):
            return None
        opens = _number(d, "consecutive_opens") or 0
        return "emergency" if opens >= 3 else None
    if alert_type == "error_rate_spike":
        rate = _number(d, "error_rate_5m")
        return "critical" if rate is not None and rate >= 0.5 else None
    if alert_type in ("latency_spike", "cost_spike"):
        ratio = _number(d, "ratio")
        limit = 5.0 if alert_type == "latency_spike" else 10.0
        return "critical" if ratio is not None and ratio >= limit else None
    if alert_type == "budget_exceeded":
        spent, budget = _number(d, "spent_usd"), _number(d, "budget_usd")
        return "emergency" if spent and budget and spent >= 2 * budget else None
    return None


def severity_of(
    alert_type: AlertType,
    details: dict[str, Any],
    policy: AlertPolicy,
    proposed: AlertSeverity | None = None,
) -> AlertSeverity:
    """The severity to give an alert: the tenant's fixed one for the type, else the worst of
    the detector's proposal, the type's base and what the numbers raise it to."""
    fixed = policy.severities.get(alert_type)
    if fixed is not None:
        return fixed
    if alert_type == "circuit_opened" and details.get("forced"):
        return "info"
    severity = worse(BASE[alert_type], proposed or BASE[alert_type])
    raised = _raised(alert_type, details)
    return worse(severity, raised) if raised else severity
