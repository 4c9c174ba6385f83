"""The retention asset through Dagster: one daily partition archives, verifies and drops what
expired, and the archive then answers for the dropped rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dagster_project.archive.assets import ArchiveRoot
from dagster_project.archive.definitions import definitions
from dagster_project.definitions import definitions_for
from meta_agent.archive import connect_archive, removed_days
from tests.archive.conftest import (
    DAY,
    at,
    create_tenant,
    ensure_partitions,
    insert_action,
    insert_execution,
    partitions,
)

pytestmark = pytest.mark.integration


def test_one_partition_of_the_asset_archives_and_drops_the_expired_day(raw_db):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "short memory", retention_days=2)
        ensure_partitions(conn, DAY, DAY + timedelta(days=4))
        executions = [insert_execution(conn, tenant, at(DAY, hours)) for hours in (1, 5, 23.5)]
        for execution_id in executions:
            insert_action(conn, tenant, execution_id, at(DAY, 23.6))
        kept = insert_execution(conn, tenant, at(DAY + timedelta(days=3), 1))

    defs = definitions(raw_db.url, str(raw_db.archive))
    job = defs.resolve_job_def("archive_daily")
    # the partition of DAY + 3 runs as of DAY + 4: DAY is past two days of retention
    result = job.execute_in_process(partition_key=(DAY + timedelta(days=3)).isoformat())

    assert result.success
    [materialization] = result.asset_materializations_for_node("archive__raw_archive")
    assert materialization.metadata["rows_removed"].value == 6
    with raw_db.connect() as conn:
        assert DAY not in partitions(conn, "executions")
        # the warehouse refuses to re-aggregate it from what is left
        assert removed_days(conn, DAY - timedelta(days=1), DAY + timedelta(days=3)) == [DAY]
        remaining = conn.execute("select execution_id from raw.executions").fetchall()
    assert remaining == [(kept,)]
    with connect_archive(raw_db.archive) as con:
        archived = {row[0] for row in con.execute("select execution_id from executions").fetchall()}
        actions = con.execute("select count(*) from actions").fetchone()
    assert archived == {str(e) for e in executions}
    assert actions == (3,)


def test_a_day_that_cannot_be_archived_fails_the_run_and_keeps_its_rows(raw_db):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "short memory", retention_days=1)
        ensure_partitions(conn, DAY, DAY + timedelta(days=3))
        insert_execution(conn, tenant, at(DAY, 2))
    raw_db.archive.parent.mkdir(parents=True, exist_ok=True)
    raw_db.archive.write_text("a file where the archive directory should be")

    defs = definitions(raw_db.url, str(raw_db.archive))
    result = defs.resolve_job_def("archive_daily").execute_in_process(
        partition_key=(DAY + timedelta(days=2)).isoformat(), raise_on_error=False
    )

    assert not result.success
    with raw_db.connect() as conn:
        assert conn.execute("select count(*) from raw.executions").fetchone() == (1,)


def test_the_warehouse_refuses_to_rebuild_a_day_whose_rows_were_archived(raw_db):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "short memory", retention_days=1)
        ensure_partitions(conn, DAY, DAY + timedelta(days=3))
        insert_execution(conn, tenant, at(DAY, 2))
    defs = definitions_for(raw_db.url)
    archived = defs.resolve_job_def("archive_daily").execute_in_process(
        partition_key=(DAY + timedelta(days=2)).isoformat(),
        resources={"archive_root": ArchiveRoot(path=str(raw_db.archive))},
    )
    assert archived.success

    rebuilt = defs.resolve_job_def("warehouse_daily").execute_in_process(
        partition_key=DAY.isoformat(), raise_on_error=False
    )

    assert not rebuilt.success
    [failure] = [e for e in rebuilt.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "live only in the Parquet archive" in str(failure.event_specific_data)
