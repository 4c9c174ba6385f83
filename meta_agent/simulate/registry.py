"""The registry side of a simulated fleet: agents, prompt versions, injected faults, partitions.

Ordinary INSERTs, idempotent for the same tenant and seed, so a load can be run again to finish
an interrupted one.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from meta_agent.errors import MetaAgentError
from meta_agent.simulate.faults import plan_faults
from meta_agent.simulate.fleet import FleetSpec, agent_id, prompt_version_id
from meta_agent.simulate.ids import stable_uuid
from meta_agent.simulate.profiles import AgentProfile

# the registry predates the logs it governs
_REGISTERED_BEFORE = timedelta(days=30)


class FleetLoadError(MetaAgentError):
    """The fleet cannot be loaded into this database or tenant as asked."""


def register_fleet(conn: psycopg.Connection, tenant_id: uuid.UUID, spec: FleetSpec) -> None:
    """Agents, prompt versions, faults and partitions; idempotent for the same tenant and seed."""
    if conn.execute("select 1 from tenants where tenant_id = %s", (tenant_id,)).fetchone() is None:
        raise FleetLoadError(f"tenant {tenant_id} does not exist; create it before loading")
    names = [profile.name for profile in spec.profiles]
    existing = conn.execute(
        "select name, agent_id from agents where tenant_id = %s and name = any(%s)",
        (tenant_id, names),
    ).fetchall()
    expected = {p.name: agent_id(tenant_id, spec, p) for p in spec.profiles}
    clashes = sorted(name for name, found in existing if found != expected[name])
    if clashes:
        raise FleetLoadError(
            f"tenant {tenant_id} already has agents {clashes} not created by seed {spec.seed}; "
            "load into a fresh tenant or reuse the seed that created them"
        )
    faults = plan_faults(spec)
    regressions = {f.agent: f for f in faults if f.kind == "prompt_regression"}
    registered_at = spec.history_start - _REGISTERED_BEFORE
    for profile in spec.profiles:
        regression = regressions.get(profile.name)
        latest = 2 if regression else 1
        conn.execute(
            "insert into agents (agent_id, tenant_id, name, kind, owner, description, config,"
            " tags, sla_p95_ms, current_prompt_version_id, created_at, updated_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict (agent_id) do nothing",
            (
                expected[profile.name],
                tenant_id,
                profile.name,
                profile.kind,
                profile.owner,
                profile.description,
                Jsonb({"simulated": True, "seed": spec.seed, "traffic_share": spec.share(profile)}),
                list(profile.tags),
                profile.sla_p95_ms,
                prompt_version_id(tenant_id, spec, profile, latest),
                registered_at,
                registered_at,
            ),
        )
        _insert_prompt_version(conn, tenant_id, spec, profile, 1, latest == 1, registered_at)
        if regression is not None:
            _insert_prompt_version(conn, tenant_id, spec, profile, 2, True, regression.started_at)
    for fault in faults:
        fault_agent = next(p for p in spec.profiles if p.name == fault.agent)
        fault_id = stable_uuid(
            "fault", tenant_id, spec.seed, fault.agent, fault.kind, fault.started_at
        )
        conn.execute(
            "insert into simulated_faults (simulated_fault_id, tenant_id, agent_id, fault_kind,"
            " started_at, ended_at, details, seed) values (%s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict (simulated_fault_id) do nothing",
            (
                fault_id,
                tenant_id,
                agent_id(tenant_id, spec, fault_agent),
                fault.kind,
                fault.started_at,
                fault.ended_at,
                Jsonb(fault.details),
                spec.seed,
            ),
        )
    # an execution that starts just before midnight has actions on the next day
    for table, last_day in (("executions", spec.end_day), ("actions", spec.end_day + timedelta(1))):
        conn.execute(
            "select app.ensure_daily_partitions(%s::regclass, %s, %s)",
            (f"raw.{table}", spec.start_day, last_day),
        )


def _insert_prompt_version(
    conn: psycopg.Connection,
    tenant_id: uuid.UUID,
    spec: FleetSpec,
    profile: AgentProfile,
    version: int,
    current: bool,
    created_at: datetime,
) -> None:
    template = profile.prompt_template
    summary = "initial version"
    if version == 2:
        # the change that causes the regression: the model now explains before it answers
        template += " Explain your reasoning step by step before giving the answer."
        summary = "ask the model to explain its reasoning"
    conn.execute(
        "insert into prompt_versions (prompt_version_id, tenant_id, agent_id, version,"
        " parent_version_id, template, model, author, change_summary, status, source, created_at)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'manual', %s)"
        " on conflict (prompt_version_id) do nothing",
        (
            prompt_version_id(tenant_id, spec, profile, version),
            tenant_id,
            agent_id(tenant_id, spec, profile),
            version,
            prompt_version_id(tenant_id, spec, profile, version - 1) if version > 1 else None,
            template,
            profile.model,
            profile.owner,
            summary,
            "active" if current else "retired",
            created_at,
        ),
    )


def loaded_chunks(
    conn: psycopg.Connection, tenant_id: uuid.UUID, spec: FleetSpec
) -> set[tuple[uuid.UUID, date]]:
    """The (agent_id, day) chunks already committed: each went in whole, in one transaction."""
    rows = conn.execute(
        "select distinct agent_id, (started_at at time zone 'UTC')::date from raw.executions"
        " where tenant_id = %s and agent_id = any(%s) and started_at >= %s and started_at < %s",
        (
            tenant_id,
            [agent_id(tenant_id, spec, p) for p in spec.profiles],
            spec.history_start,
            spec.history_start + timedelta(days=spec.days),
        ),
    ).fetchall()
    return {(row[0], row[1]) for row in rows}
