"""The daily cycle through Dagster: `meta_agent full-cycle` materialises every asset of the
definitions for a day; a range is one run whose marts equal the days run one by one; the dbt
tests run as asset checks and pass on simulator data."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from dagster_project.cycle import CycleReport, run_cycle, run_window
from dagster_project.definitions import definitions_for
from dagster_project.warehouse.definitions import definitions
from dagster_project.warehouse.schedules import warehouse_daily_job
from meta_agent.embedded import EmbeddedServers
from tests.dagster_project.conftest import (
    FLEET,
    MARTS,
    Simulated,
    drop,
    marts_snapshot,
    new_copy,
)

pytestmark = pytest.mark.integration

DAYS = FLEET.day_list


def test_full_cycle_materialises_every_asset_of_the_definitions_for_the_day(
    simulated: Simulated, tmp_path: Path
):
    day = DAYS[-1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")}
    environ.update(
        METAAGENT_HOME=str(tmp_path / "home"), METAAGENT_DATABASE_URL=simulated.db.owner_url
    )
    done = subprocess.run(
        [sys.executable, "-m", "meta_agent", "full-cycle", "--date", day.isoformat()],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    graph = definitions_for(simulated.db.owner_url).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        did = "materialized" if node.is_materializable else "observed"
        assert did in summary.get(key.to_user_string(), ""), key.to_user_string()
    assert f"{day}: ok:" in done.stdout
    with psycopg.connect(simulated.db.owner_url) as conn:
        for mart in MARTS:
            if mart == "sla_period_compliance":
                continue  # keyed by period, not day
            days = conn.execute(f"select distinct execution_date from marts.{mart}").fetchall()
            assert days == [(day,)], mart


@pytest.fixture(scope="module")
def range_run(
    servers: EmbeddedServers, simulated_template: tuple[str, uuid.UUID]
) -> Iterator[tuple[Simulated, dg.Definitions, CycleReport]]:
    """The full cycle over the fleet's three days as one run, as a single-run backfill of
    that partition range is."""
    ranged = new_copy(servers, simulated_template)
    defs = definitions(ranged.db.owner_url)
    try:
        yield ranged, defs, run_cycle(defs, DAYS[0], DAYS[-1])
    finally:
        drop(servers, ranged)


def test_a_range_is_one_run_whose_marts_equal_the_days_run_one_by_one(
    servers: EmbeddedServers,
    simulated_template: tuple[str, uuid.UUID],
    range_run: tuple[Simulated, dg.Definitions, CycleReport],
):
    ranged, _, report = range_run
    assert report.success, report.failed_steps
    # one dbt build over the window, recorded for each day of it
    marts = {a.key: a for a in report.assets if a.key.startswith("marts/")}
    assert {key.split("/")[1] for key in marts} == set(MARTS)
    assert all(a.materializations == len(DAYS) for a in marts.values())

    daily = new_copy(servers, simulated_template)
    try:
        defs = definitions(daily.db.owner_url)
        for day in DAYS:
            assert run_cycle(defs, day).success
        assert marts_snapshot(ranged.db.owner_url) == marts_snapshot(daily.db.owner_url)
    finally:
        drop(servers, daily)


def test_every_dbt_test_runs_as_an_asset_check_and_passes_on_simulator_data(
    range_run: tuple[Simulated, dg.Definitions, CycleReport],
):
    _, defs, report = range_run
    assert report.failed_checks == []
    graph = defs.resolve_asset_graph()
    freshness = {key for key in graph.asset_check_keys if key.name == "freshness_check"}
    dbt_tests = graph.asset_check_keys - freshness
    assert len(dbt_tests) > 50
    # each dbt test once, none skipped; freshness is left to its sensor (it asks about the
    # clock, not about the days built)
    assert sum(a.checks_passed for a in report.assets) == len(dbt_tests)
    assert freshness


def test_a_range_that_ends_before_it_starts_is_refused(simulated: Simulated):
    job = definitions(simulated.db.owner_url).resolve_job_def(warehouse_daily_job.name)
    with pytest.raises(ValueError, match="ends"):
        run_window(job, DAYS[1], DAYS[0] - dt.timedelta(days=1))
