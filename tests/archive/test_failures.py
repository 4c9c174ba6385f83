"""Nothing is dropped that was not verified on disk: failures leave every row in Postgres."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from meta_agent.archive import ArchiveError, files, run_retention
from meta_agent.archive.files import Digest, read_digest
from tests.archive.conftest import DAY, create_tenant, insert_edge_cases, partitions, raw_rows

TODAY = DAY + timedelta(days=5)


@pytest.fixture
def expired(raw_db):
    """A tenant whose DAY and DAY+1 have expired by TODAY; its rows as they were."""
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "acme", retention_days=1)
        insert_edge_cases(conn, tenant, DAY)
        rows = {t: raw_rows(conn, t) for t in ("executions", "actions")}
    return raw_db, rows


def _nothing_dropped(raw_db, rows) -> None:
    with raw_db.connect() as conn:
        for table, before in rows.items():
            assert raw_rows(conn, table) == before
            assert DAY in partitions(conn, table)
        assert conn.execute(
            "select count(*) from archive_manifest where dropped_at is not null"
        ).fetchone() == (0,)


def test_an_archive_root_that_cannot_be_written_drops_nothing(expired, tmp_path):
    raw_db, rows = expired
    blocker = tmp_path / "a file"
    blocker.write_text("not a directory")

    report = run_retention(raw_db.url, blocker / "archive", today=TODAY)

    assert len(report.errors) == 3  # one per (table, tenant, day) with rows
    assert all("cannot write under" in error for error in report.errors)
    assert {d.outcome for d in report.days if d.files or d.errors} == {"kept"}
    _nothing_dropped(raw_db, rows)


def test_a_file_that_reads_back_short_is_removed_and_drops_nothing(expired, monkeypatch):
    raw_db, rows = expired

    class LosesTheLastRow(pq.ParquetWriter):  # a writer or disk that silently loses data
        def write_batch(self, batch, row_group_size=None):
            super().write_batch(batch.slice(0, batch.num_rows - 1), row_group_size)

    monkeypatch.setattr(files.pq, "ParquetWriter", LosesTheLastRow)
    report = run_retention(raw_db.url, raw_db.archive, today=TODAY)

    assert len(report.errors) == 3
    assert all("read back" in error and "the file was removed" in error for error in report.errors)
    assert list(raw_db.archive.rglob("*.parquet")) == []
    _nothing_dropped(raw_db, rows)
    with raw_db.connect() as conn:
        assert conn.execute(
            "select count(*) from archive_manifest where verified_at is null"
        ).fetchone() == (3,)

    monkeypatch.undo()
    healed = run_retention(raw_db.url, raw_db.archive, today=TODAY)
    assert healed.errors == []
    with raw_db.connect() as conn:
        assert raw_rows(conn, "executions") == []


def _tampered(column: str, array: pa.Array) -> pa.Array:
    """The column with its first value changed as little as its type allows."""
    values = array.to_pylist()
    if column == "error_message":
        values[0] = (values[0] or "") + "!"
    elif column == "started_at":
        values[0] = values[0] + timedelta(microseconds=1)
    elif column == "cost_usd":
        step = Decimal("0.00000001")
        values[0] = values[0] - step if values[0] > 0 else values[0] + step
    elif column == "duration_ms":
        values[0] = math.nextafter(values[0] or 0.0, math.inf)
    return pa.array(values, array.type)


@pytest.mark.parametrize("column", ["error_message", "started_at", "cost_usd", "duration_ms"])
def test_the_checksum_notices_one_changed_value(expired, column):
    raw_db, _ = expired
    run_retention(raw_db.url, raw_db.archive, today=TODAY)
    with raw_db.connect() as conn:
        path, rows, checksum = conn.execute(
            "select path, row_count, checksum::text from archive_manifest"
            " where table_name = 'executions'"
        ).fetchone()
    file = raw_db.archive / path
    assert read_digest("executions", file) == Digest(rows, int(checksum))

    table = pq.read_table(file)
    index = table.schema.get_field_index(column)
    changed = table.set_column(
        index, table.field(index), _tampered(column, table.column(column).combine_chunks())
    )
    same = pc.equal(changed.column(column), table.column(column))
    assert pc.sum(pc.fill_null(same, False)).as_py() >= rows - 1 - table.column(column).null_count
    assert not changed.equals(table)
    pq.write_table(changed, file)

    found = read_digest("executions", file)
    assert found.rows == rows
    assert found.checksum != int(checksum)


def test_a_raw_table_whose_columns_changed_is_not_archived(expired):
    raw_db, rows = expired
    with raw_db.connect() as conn:
        conn.execute("alter table raw.actions add column surprise text")
        rows["actions"] = raw_rows(conn, "actions")

    with pytest.raises(ArchiveError, match=r"raw\.actions .* schema version 1 .*surprise"):
        run_retention(raw_db.url, raw_db.archive, today=TODAY)
    _nothing_dropped(raw_db, rows)


def test_one_run_at_a_time(expired):
    raw_db, rows = expired
    with raw_db.connect() as conn:
        conn.execute("select pg_advisory_lock(%s)", (0x61726368,))
        with pytest.raises(ArchiveError, match="another retention run"):
            run_retention(raw_db.url, raw_db.archive, today=TODAY)
    _nothing_dropped(raw_db, rows)


@pytest.mark.parametrize(
    "write",
    [
        "insert into raw.executions (execution_id, tenant_id, agent_id, started_at, status)"
        " select gen_random_uuid(), tenant_id, agent_id, started_at, status"
        " from raw.executions limit 1",
        "update raw.executions set error_message = error_message where ctid = ("
        "select min(ctid) from raw.executions)",
        "delete from raw.executions where ctid = (select min(ctid) from raw.executions)",
    ],
    ids=["insert", "update that changes nothing", "delete"],
)
def test_rows_written_after_their_check_are_told_apart_from_the_rows_checked(expired, write):
    """The recheck before a drop compares row versions: any write in between keeps the day."""
    from meta_agent.archive.retention import _row_versions

    raw_db, _ = expired
    with raw_db.connect() as conn:
        (tenant,) = conn.execute("select tenant_id from tenants").fetchone()
        checked = _row_versions(conn, "executions", DAY, [tenant])
        assert _row_versions(conn, "executions", DAY, [tenant]) == checked
        conn.execute(write)
        assert _row_versions(conn, "executions", DAY, [tenant]) != checked
