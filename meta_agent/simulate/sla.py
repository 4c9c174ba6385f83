"""SLA definitions for a simulated fleet: what an operator of these four agents would agree to.

Each target sits above what the agent delivers on an ordinary day and below what it delivers
while one of the injected faults hits it, so the warehouse's SLA marts have breaches to find
and ordinary days to pass: the classifier's prompt regression breaks its success rate, the
assistant's tool-timeout storm its success rate and p95, the writer's context overflow and
cost blow-up its success rate, p95 and cost, the lead workflow's API outage its availability.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from meta_agent.simulate.catalogue import (
    CONTENT_WRITER,
    N8N_LEAD_WORKFLOW,
    PM_ASSISTANT,
    TICKET_CLASSIFIER,
)
from meta_agent.simulate.fleet import FleetSpec, agent_id


@dataclass(frozen=True)
class SlaTargets:
    """One SLA: targets left None are not part of it."""

    name: str
    success_rate: float | None = None
    p95_ms: float | None = None
    availability: float | None = None
    max_cost_per_execution_usd: float | None = None
    period: str = "monthly"


TENANT_DEFAULT = SlaTargets("fleet default", success_rate=0.97, availability=0.99)
AGENT_SLAS = {
    TICKET_CLASSIFIER.name: SlaTargets(
        "ticket triage", success_rate=0.99, p95_ms=1_500, max_cost_per_execution_usd=0.0002,
        period="daily",
    ),
    PM_ASSISTANT.name: SlaTargets(
        "pm assistant", success_rate=0.98, p95_ms=30_000, availability=0.99, period="weekly"
    ),
    CONTENT_WRITER.name: SlaTargets(
        "content drafts", success_rate=0.95, p95_ms=480_000, max_cost_per_execution_usd=0.25
    ),
    N8N_LEAD_WORKFLOW.name: SlaTargets(
        "lead routing", success_rate=0.98, p95_ms=8_000, availability=0.99, period="daily"
    ),
}  # fmt: skip


def seed_sla_definitions(conn: psycopg.Connection, tenant_id: uuid.UUID, spec: FleetSpec) -> int:
    """Give the tenant the fleet's SLAs, in force from the day before its history starts.

    A tenant that has any SLA definition already is left alone (an operator's edits win);
    returns how many definitions were inserted. The fleet's agents must be registered.
    """
    with conn.transaction():
        # one seeding at a time per tenant: two demos at once must not both insert
        conn.execute("select pg_advisory_xact_lock(hashtext('sla seed ' || %s))", (str(tenant_id),))
        existing = conn.execute(
            "select count(*) from sla_definitions where tenant_id = %s", (tenant_id,)
        ).fetchone()
        if existing is not None and existing[0] > 0:
            return 0
        effective_from = spec.history_start - timedelta(days=1)
        rows = [(None, TENANT_DEFAULT)] + [
            (agent_id(tenant_id, spec, profile), AGENT_SLAS[profile.name])
            for profile in spec.profiles
            if profile.name in AGENT_SLAS
        ]
        for agent, sla in rows:
            conn.execute(
                "insert into sla_definitions (tenant_id, agent_id, name, target_success_rate,"
                " target_p95_ms, target_availability, max_cost_per_execution_usd, period,"
                " effective_from, created_by)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'simulator')",
                (
                    tenant_id, agent, sla.name, sla.success_rate, sla.p95_ms, sla.availability,
                    sla.max_cost_per_execution_usd, sla.period, effective_from,
                ),
            )  # fmt: skip
    return len(rows)
