"""The code location loads, and materialising one partition through Dagster builds every mart
for that day on the real embedded Postgres."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg
import psycopg
import pytest

from dagster_project.warehouse.definitions import definitions
from meta_agent import tenants
from meta_agent.simulate import default_fleet, load_fleet

pytestmark = pytest.mark.integration

MARTS = (
    "agent_daily_metrics", "agent_error_distribution", "agent_variant_daily_metrics",
    "cost_daily", "sla_daily_compliance", "sla_period_compliance", "failure_events",
)  # fmt: skip


def test_the_definitions_load_with_a_daily_schedule_at_two(migrated_database: Any):
    defs = definitions(migrated_database.owner_url)
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {f"marts/{mart}" for mart in MARTS} <= keys
    schedule = defs.resolve_schedule_def("warehouse_daily_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone in (None, "UTC")


def test_materialising_one_partition_builds_every_mart_for_that_day(fresh_database: Any):
    from meta_agent import migrations

    migrations.migrate(fresh_database.owner_url)
    day = dt.date(2026, 11, 20)
    with psycopg.connect(fresh_database.owner_url, autocommit=True) as conn:
        tenant_id = tenants.create_tenant(conn, "dagster-test")
        load_fleet(
            conn,
            tenant_id=tenant_id,
            spec=default_fleet(seed=3, days=2, executions_per_day=800, end_day=day),
        )
    defs = definitions(fresh_database.owner_url)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(partition_key=day.isoformat())
    assert result.success
    with psycopg.connect(fresh_database.owner_url) as conn:
        counts = {
            mart: conn.execute(f"select count(*) from marts.{mart}").fetchone()[0] for mart in MARTS
        }
        days = conn.execute(
            "select distinct execution_date from marts.agent_daily_metrics"
        ).fetchall()
    assert counts["agent_daily_metrics"] == 4  # one row per agent for the day
    assert counts["failure_events"] > 0
    assert days == [(day,)]
    assert isinstance(result, dg.ExecuteInProcessResult)
