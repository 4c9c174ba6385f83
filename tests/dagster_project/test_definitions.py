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
from tests.dbt.conftest import MARTS

pytestmark = pytest.mark.integration


def test_the_definitions_load_with_their_checks_sensor_and_schedules(migrated_database: Any):
    defs = definitions(migrated_database.owner_url)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    checks = {key.to_user_string() for key in graph.asset_check_keys}
    # dbt tests are checks of the models they test; freshness checks on every mart and raw table
    assert "marts/agent_daily_metrics:not_null_agent_daily_metrics_tenant_id" in checks
    for key in [*(f"marts/{mart}" for mart in MARTS), "raw/executions", "raw/actions"]:
        assert f"{key}:freshness_check" in checks
    sensor = defs.resolve_sensor_def("warehouse_freshness_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    observe = defs.resolve_schedule_def("observe_warehouse_sources_hourly")
    assert observe.cron_schedule == "15 * * * *"


def test_lineage_runs_from_the_observed_source_tables_through_staging_to_the_marts(
    migrated_database: Any,
):
    graph = definitions(migrated_database.owner_url).resolve_asset_graph()
    sources = {
        dg.AssetKey(["raw", "executions"]), dg.AssetKey(["raw", "actions"]),
        dg.AssetKey(["operational", "agents"]), dg.AssetKey(["operational", "prompt_versions"]),
        dg.AssetKey(["operational", "sla_definitions"]),
    }  # fmt: skip
    for key in sources:
        assert graph.get(key).is_observable
        assert not graph.get(key).is_materializable
    executions = graph.get(dg.AssetKey(["staging", "stg_raw__executions"]))
    assert executions.parent_keys == {dg.AssetKey(["raw", "executions"])}
    sla = graph.get_ancestor_asset_keys(dg.AssetKey(["marts", "sla_daily_compliance"]))
    assert {dg.AssetKey(["raw", "actions"]), dg.AssetKey(["operational", "sla_definitions"])} < sla
    assert dg.AssetKey(["staging", "stg_raw__actions"]) in sla
    upstream_of_marts = set().union(
        *(graph.get_ancestor_asset_keys(dg.AssetKey(["marts", mart])) for mart in MARTS)
    )
    assert sources <= upstream_of_marts


def test_observing_the_raw_tables_reports_their_newest_day_and_changes_version_with_it(
    fresh_database: Any,
):
    from meta_agent import migrations

    migrations.migrate(fresh_database.owner_url)
    day = dt.date(2026, 11, 20)
    with psycopg.connect(fresh_database.owner_url, autocommit=True) as conn:
        tenant_id = tenants.create_tenant(conn, "observed")
        load_fleet(
            conn, tenant_id=tenant_id,
            spec=default_fleet(seed=3, days=2, executions_per_day=300, end_day=day),
        )  # fmt: skip
        newest = conn.execute(
            "select count(*) from raw.executions where started_at >= %s", (day,)
        ).fetchone()
    defs = definitions(fresh_database.owner_url)
    job = defs.resolve_job_def("observe_warehouse_sources")

    def observed() -> dict[str, Any]:
        result = job.execute_in_process()
        return {
            event.asset_key.to_user_string(): event.asset_observation_data.asset_observation
            for event in result.all_events
            if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION and event.asset_key
        }

    first = observed()
    assert set(first) == {
        "raw/executions", "raw/actions", "operational/agents", "operational/prompt_versions",
        "operational/sla_definitions",
    }  # fmt: skip
    executions = first["raw/executions"]
    assert executions.metadata["newest_day"].value == day.isoformat()
    assert newest is not None
    assert executions.metadata["newest_day_rows"].value == newest[0]
    assert "dagster/last_updated_timestamp" in executions.metadata
    assert first["operational/agents"].metadata["dagster/row_count"].value == 4

    with psycopg.connect(fresh_database.owner_url, autocommit=True) as conn:
        conn.execute(
            "insert into raw.executions (execution_id, tenant_id, agent_id, started_at, status)"
            " select gen_random_uuid(), tenant_id, agent_id, started_at, 'running'"
            " from raw.executions order by started_at desc limit 1"
        )
    again = observed()
    assert again["raw/executions"].data_version != executions.data_version
    assert again["raw/actions"].data_version == first["raw/actions"].data_version


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
