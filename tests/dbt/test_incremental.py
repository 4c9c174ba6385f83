"""The marts are incremental by day: a run replaces exactly the days of its window, so
re-running a day changes nothing, a range equals its days run one by one, and a run
without a window (or a full refresh) rebuilds the same tables from all of raw."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from tests.dbt.conftest import FIRST_DAY, MARTS, WINDOW, Warehouse, at

pytestmark = pytest.mark.integration

DAYS = [FIRST_DAY + timedelta(days=offset) for offset in range(3)]
Snapshot = dict[str, list[tuple[object, ...]]]


def snapshot(warehouse: Warehouse) -> Snapshot:
    """Every mart's rows, in a stable order."""
    with psycopg.connect(warehouse.db.owner_url) as conn:
        return {
            mart: sorted(
                conn.execute(sql.SQL("select * from marts.{}").format(sql.Identifier(mart))),
                key=repr,
            )
            for mart in MARTS
        }


def run_day_by_day(warehouse: Warehouse) -> None:
    for day in DAYS:
        warehouse.dbt("run", window=(day, day + timedelta(days=1)))


@pytest.fixture(scope="module")
def day_by_day(warehouse: Warehouse) -> Snapshot:
    """The marts after the window's days were built one run each, on an empty warehouse."""
    warehouse.dbt("seed", window=None)
    run_day_by_day(warehouse)
    built = snapshot(warehouse)
    assert all(built.values()), "a mart is empty"
    return built


def test_running_a_day_again_changes_nothing(warehouse, day_by_day):
    warehouse.dbt("run", window=(DAYS[1], DAYS[2]))
    assert snapshot(warehouse) == day_by_day


def test_running_a_day_again_replaces_that_day_and_only_that_day(warehouse, day_by_day):
    late = uuid.uuid4()
    with psycopg.connect(warehouse.db.owner_url, autocommit=True) as conn:
        agent = conn.execute(
            "select agent_id from agents where tenant_id = %s order by name limit 1",
            (warehouse.tenant_a,),
        ).fetchone()
        assert agent is not None
        conn.execute(
            "insert into raw.executions (execution_id, tenant_id, agent_id, started_at, ended_at,"
            " duration_ms, status) values (%s, %s, %s, %s, %s, 5, 'success')",
            (late, warehouse.tenant_a, agent[0], at(DAYS[1], 5), at(DAYS[1], 5)),
        )
        try:
            warehouse.dbt("run", window=(DAYS[1], DAYS[2]))
            changed = snapshot(warehouse)
        finally:
            conn.execute("delete from raw.executions where execution_id = %s", (late,))
    daily = changed["agent_daily_metrics"]
    untouched = [row for row in daily if row[3] != DAYS[1]]
    assert untouched == [row for row in day_by_day["agent_daily_metrics"] if row[3] != DAYS[1]]
    assert (
        sum(row[4] for row in daily) == sum(row[4] for row in day_by_day["agent_daily_metrics"]) + 1
    )

    warehouse.dbt("run", window=(DAYS[1], DAYS[2]))
    assert snapshot(warehouse) == day_by_day


def test_a_run_over_the_range_equals_its_days_run_one_by_one(warehouse, day_by_day):
    warehouse.dbt("run", window=WINDOW)
    assert snapshot(warehouse) == day_by_day

    with psycopg.connect(warehouse.db.owner_url, autocommit=True) as conn:
        conn.execute("drop schema marts cascade")
        conn.execute("drop schema intermediate cascade")
    warehouse.dbt("run", window=WINDOW)
    assert snapshot(warehouse) == day_by_day


def test_a_run_without_a_window_rebuilds_the_same_marts_from_all_of_raw(warehouse, day_by_day):
    warehouse.dbt("run", window=None)
    assert snapshot(warehouse) == day_by_day


def test_a_full_refresh_rebuilds_the_same_marts_with_their_row_level_security(
    warehouse, day_by_day
):
    warehouse.dbt("run", "--full-refresh", window=None)
    assert snapshot(warehouse) == day_by_day
    with psycopg.connect(warehouse.db.owner_url) as conn:
        secured = conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " join pg_policy p on p.polrelid = c.oid and p.polname = 'tenant_isolation'"
            " where n.nspname = 'marts' and c.relrowsecurity and c.relforcerowsecurity"
        ).fetchone()
    assert secured == (len(MARTS),)
