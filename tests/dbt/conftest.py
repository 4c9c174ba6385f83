"""A warehouse to build: two tenants' simulated fleets, hand-made edge cases, SLA definitions.

The raw data is loaded once per session into a template database; every module that builds
gets its own copy (`create database … template …` copies files, it replays nothing).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from dbt.cli.main import dbtRunnerResult

from meta_agent import migrations, tenants
from meta_agent.embedded import APP_ROLE, OWNER_ROLE, EmbeddedServers
from meta_agent.simulate import FleetSpec, default_fleet, load_fleet
from meta_agent.simulate.catalogue import N8N_LEAD_WORKFLOW, PM_ASSISTANT, TICKET_CLASSIFIER
from meta_agent.simulate.fleet import agent_id
from tests.conftest import TestDatabase
from tests.dbt.runner import DbtTarget, run_dbt, window_vars

# Saturday to Monday: two ISO weeks, so the weekly roll-up has a trend to compute.
LAST_DAY = date(2025, 3, 17)
DAYS = 3
FIRST_DAY = LAST_DAY - timedelta(days=DAYS - 1)
WINDOW = (FIRST_DAY, LAST_DAY + timedelta(days=1))
FLEET_A = default_fleet(seed=21, days=DAYS, executions_per_day=2_000, end_day=LAST_DAY)
FLEET_B = default_fleet(seed=22, days=DAYS, executions_per_day=300, end_day=LAST_DAY)
MARTS = (
    "agent_daily_metrics", "agent_variant_daily_metrics", "agent_error_distribution",
    "cost_daily", "failure_events", "sla_daily_compliance", "sla_period_compliance",
)  # fmt: skip


@dataclass(frozen=True)
class Warehouse:
    """A database holding the raw data, and how to run dbt against it."""

    db: TestDatabase
    target: DbtTarget
    target_path: Path
    tenant_a: uuid.UUID
    tenant_b: uuid.UUID

    def dbt(
        self, command: str, *args: str, window: tuple[date, date] | None = WINDOW
    ) -> dbtRunnerResult:
        variables = window_vars(*window) if window else None
        return run_dbt(
            self.target, command, *args, target_path=self.target_path, variables=variables
        )


def at(day: date, hours: float = 0.0) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hours)


def _insert_edge_cases(conn: psycopg.Connection, tenant: uuid.UUID, spec: FleetSpec) -> None:
    """What the simulator never writes, each case once: statuses it does not use, an error
    type the mapping does not know, a failure without actions, an LLM call without a model,
    executions whose actions cross midnight, and an action too late to count."""
    classifier = agent_id(tenant, spec, TICKET_CLASSIFIER)
    assistant = agent_id(tenant, spec, PM_ASSISTANT)
    first, last = spec.start_day, spec.end_day
    executions = [
        # (agent, started_at, duration_ms or None, status, error_type, model, session)
        (classifier, at(first, 10), 800.0, "cancelled", None, "gpt-4o-mini", None),
        (classifier, at(first, 11), None, "running", None, "gpt-4o-mini", None),
        (assistant, at(first, 12), 250.0, "failure", "MysteryError", "gpt-4o", "sess-edge"),
        (assistant, at(first, 13), 90.0, "failure", None, "gpt-4o", "sess-edge"),
        # crosses midnight into the second day; its actions there belong to the first day
        (assistant, at(first, 24) - timedelta(seconds=2), 5_000.0, "success", None, "gpt-4o", None),
        # crosses midnight past the window's last day
        (assistant, at(last, 24) - timedelta(seconds=1), 4_000.0, "timeout", "ToolTimeout", "gpt-4o", None),
        # has an action two days later: not one of its actions
        (classifier, at(first, 1), 100.0, "success", None, "gpt-4o-mini", None),
    ]  # fmt: skip
    ids = [uuid.uuid4() for _ in executions]
    for execution_id, (agent, started, duration, status, error, model, session) in zip(
        ids, executions, strict=True
    ):
        ended = None if duration is None else started + timedelta(milliseconds=duration)
        conn.execute(
            "insert into raw.executions (execution_id, tenant_id, agent_id, started_at, ended_at,"
            " duration_ms, status, session_id, model, error_type, error_message, input, output,"
            " cost_usd, input_tokens, output_tokens)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0.001, 100, 10)",
            (
                execution_id, tenant, agent, started, ended, duration, status, session, model,
                error, f"{error} happened" if error else None,
                '{"prompt": "' + "x" * 1_500 + '"}', None,
            ),
        )  # fmt: skip
    cancelled, running, mystery, bare, crossing, late, stale = ids
    actions = [
        # (execution, agent, type, name, started_at, status, model, error_type, cost)
        (mystery, assistant, "tool_call", "mystery.tool", at(first, 12), "failure", None, "MysteryError", 0),
        (crossing, assistant, "llm_inference", "plan", at(first, 24) - timedelta(seconds=1), "success", None, None, 0.002),
        (crossing, assistant, "tool_call", "slack.post_message", at(first, 24) + timedelta(seconds=1), "failure", None, "ToolError", 0),
        (crossing, assistant, "human_intervention", "review", at(first, 24) + timedelta(seconds=2), "success", None, None, 0),
        (late, assistant, "tool_call", "clickup.create_task", at(last, 24) + timedelta(seconds=1), "timeout", None, "ToolTimeout", 0),
        (late, assistant, "llm_inference", "respond", at(last, 24) - timedelta(milliseconds=500), "success", "gpt-4o", None, 0.01),
        (stale, classifier, "human_intervention", "late review", at(first, 48) + timedelta(hours=2), "success", None, None, 0),
        (stale, classifier, "llm_inference", "classify", at(first, 48) + timedelta(hours=2), "success", "gpt-4o-mini", None, 0.5),
    ]  # fmt: skip
    for sequence, (execution, agent, kind, name, started, status, model, error, cost) in enumerate(
        actions
    ):
        conn.execute(
            "insert into raw.actions (action_id, tenant_id, execution_id, agent_id, sequence,"
            " action_type, name, started_at, ended_at, duration_ms, status, model, error_type,"
            " cost_usd, input_tokens, output_tokens)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s, %s, 7, 3)",
            (
                uuid.uuid4(), tenant, execution, agent, sequence, kind, name, started,
                started + timedelta(milliseconds=1), status, model, error, cost,
            ),
        )  # fmt: skip
    del cancelled, running, bare


def _insert_sla_definitions(conn: psycopg.Connection, tenant: uuid.UUID, spec: FleetSpec) -> None:
    """A tenant-wide default, one agent with its own SLA, and one whose SLA changes mid-day."""
    middle = spec.start_day + timedelta(days=1)
    rows = [
        # (agent, success, p95, availability, cost, budget, from, to)
        (None, 0.97, None, 0.99, None, None, at(spec.start_day, -24), None),
        (agent_id(tenant, spec, TICKET_CLASSIFIER), 0.99, 1_500.0, None, 0.0003, None,
         at(spec.start_day, -24), None),
        (agent_id(tenant, spec, N8N_LEAD_WORKFLOW), None, 8_000.0, 0.995, None, 0.02,
         at(spec.start_day, -24), at(middle, 12)),
        (agent_id(tenant, spec, N8N_LEAD_WORKFLOW), 0.9, 3_000.0, 0.999, None, 0.05,
         at(middle, 12), None),
    ]  # fmt: skip
    for agent, success, p95, availability, cost, budget, valid_from, valid_to in rows:
        conn.execute(
            "insert into sla_definitions (tenant_id, agent_id, name, target_success_rate,"
            " target_p95_ms, target_availability, max_cost_per_execution_usd, error_budget,"
            " effective_from, effective_to) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (tenant, agent, f"sla {agent or 'tenant'}", success, p95, availability, cost,
             budget, valid_from, valid_to),
        )  # fmt: skip


def _admin(servers: EmbeddedServers) -> psycopg.Connection:
    return psycopg.connect(servers.postgres.url("postgres", "postgres"), autocommit=True)


@pytest.fixture(scope="session")
def warehouse_template(servers: EmbeddedServers) -> Iterator[tuple[str, uuid.UUID, uuid.UUID]]:
    """A migrated database with both fleets loaded, frozen as a template."""
    name = f"dbt_template_{uuid.uuid4().hex[:8]}"
    pg = servers.postgres
    with _admin(servers) as conn:
        conn.execute(f"create database {name} owner {OWNER_ROLE}")
    with psycopg.connect(pg.url("postgres", name), autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
    migrations.migrate(pg.url(OWNER_ROLE, name))
    with psycopg.connect(pg.url(OWNER_ROLE, name), autocommit=True) as conn:
        tenant_a = tenants.create_tenant(conn, "dbt-tenant-a")
        tenant_b = tenants.create_tenant(conn, "dbt-tenant-b")
        load_fleet(conn, tenant_id=tenant_a, spec=FLEET_A)
        load_fleet(conn, tenant_id=tenant_b, spec=FLEET_B)
        with conn.transaction():
            _insert_edge_cases(conn, tenant_a, FLEET_A)
            _insert_sla_definitions(conn, tenant_a, FLEET_A)
    with _admin(servers) as conn:
        conn.execute(f"alter database {name} with is_template true allow_connections false")
    yield name, tenant_a, tenant_b
    with _admin(servers) as conn:
        conn.execute(f"alter database {name} with is_template false")
        conn.execute(f"drop database if exists {name} with (force)")


def _clone(servers: EmbeddedServers, template: str) -> TestDatabase:
    name = f"dbt_{uuid.uuid4().hex[:12]}"
    pg = servers.postgres
    with _admin(servers) as conn:
        for attempt in range(20):
            try:
                conn.execute(f"create database {name} template {template} owner {OWNER_ROLE}")
                break
            except psycopg.errors.ObjectInUse:  # a lingering session on the template
                if attempt == 19:
                    raise
                time.sleep(0.25)
    return TestDatabase(
        name, pg.url(OWNER_ROLE, name), pg.url(APP_ROLE, name), pg.url("postgres", name)
    )


def _warehouse(
    servers: EmbeddedServers,
    template: tuple[str, uuid.UUID, uuid.UUID],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Warehouse]:
    name, tenant_a, tenant_b = template
    db = _clone(servers, name)
    target = DbtTarget(servers.postgres.socket_dir, db.name)
    yield Warehouse(db, target, tmp_path_factory.mktemp("dbt target"), tenant_a, tenant_b)
    with _admin(servers) as conn:
        conn.execute(f"drop database if exists {db.name} with (force)")


@pytest.fixture(scope="module")
def warehouse(
    servers: EmbeddedServers,
    warehouse_template: tuple[str, uuid.UUID, uuid.UUID],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Warehouse]:
    """The module's own copy of the raw data, nothing built yet: for tests that build."""
    yield from _warehouse(servers, warehouse_template, tmp_path_factory)


@pytest.fixture(scope="session")
def built(
    servers: EmbeddedServers,
    warehouse_template: tuple[str, uuid.UUID, uuid.UUID],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Warehouse, dbtRunnerResult]]:
    """A copy after one `dbt build` over the whole window, shared by the tests that only read."""
    for warehouse in _warehouse(servers, warehouse_template, tmp_path_factory):
        yield warehouse, warehouse.dbt("build")
