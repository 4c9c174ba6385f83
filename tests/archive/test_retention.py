"""Which rows retention archives and removes, per tenant, and what a second run does."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg

from meta_agent.archive import connect_archive, retention, run_retention
from tests.archive.conftest import (
    DAY,
    at,
    create_tenant,
    ensure_partitions,
    insert_edge_cases,
    insert_execution,
    partitions,
    raw_rows,
)


def _manifest(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select table_name, tenant_id, day, part, row_count, checksum, verified_at is not null,"
        " dropped_at is not null, removal from archive_manifest order by 1, 2, 3, 4"
    ).fetchall()


def _archived_ids(raw_db, table: str, key: str) -> set[str]:
    with connect_archive(raw_db.archive) as con:
        return {r[0] for r in con.execute(f"select {key} from {table}").fetchall()}


def test_tenants_sharing_a_partition_leave_it_when_their_own_retention_ends(raw_db):
    with raw_db.connect() as conn:
        short = create_tenant(conn, "short", retention_days=2)
        long = create_tenant(conn, "long", retention_days=5)
        insert_edge_cases(conn, short, DAY)
        insert_edge_cases(conn, long, DAY)
        short_rows = raw_rows(conn, "executions", "tenant_id = %s", (short,))
        long_rows = raw_rows(conn, "executions", "tenant_id = %s", (long,))

    # three days on, only the short-retention tenant's day has expired
    first = run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=3))

    executions = next(d for d in first.days if (d.table, d.day) == ("executions", DAY))
    assert executions.outcome == "rows_deleted"
    assert [f.tenant_id for f in executions.files] == [short]
    assert executions.tenants_kept == 1
    with raw_db.connect() as conn:
        assert DAY in partitions(conn, "executions")
        assert raw_rows(conn, "executions", "tenant_id = %s", (short,)) == []
        assert raw_rows(conn, "executions", "tenant_id = %s", (long,)) == long_rows
        # its actions after midnight are a day younger: not yet expired
        assert {(table, t, d, r) for table, t, d, _, _, _, _, _, r in _manifest(conn)} == {
            ("executions", short, DAY, "rows_deleted"),
            ("actions", short, DAY, "rows_deleted"),
        }
    assert _archived_ids(raw_db, "executions", "tenant_id") == {str(short)}

    # six days on, the long-retention tenant's day has expired too: the partition goes
    second = run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=6))

    executions = next(d for d in second.days if (d.table, d.day) == ("executions", DAY))
    assert executions.outcome == "partition_dropped"
    assert [f.tenant_id for f in executions.files] == [long]
    with raw_db.connect() as conn:
        assert DAY not in partitions(conn, "executions")
        assert DAY not in partitions(conn, "actions")
        removals = {(t, table, r) for table, t, d, _, _, _, _, _, r in _manifest(conn) if d == DAY}
    assert removals == {
        (short, "executions", "rows_deleted"),
        (short, "actions", "rows_deleted"),
        (long, "executions", "partition_dropped"),
        (long, "actions", "partition_dropped"),
    }
    names = ["execution_id", "tenant_id", "started_at", "error_message", "input"]
    with connect_archive(raw_db.archive) as con:
        archived = con.execute(f"select {', '.join(names)} from executions order by 1").fetchall()
    assert archived == sorted((r[0], r[1], r[3], r[18], r[19]) for r in short_rows + long_rows)


def test_retention_is_30_days_unless_the_tenant_sets_it(raw_db):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "default", retention_days=None)
        assert conn.execute(
            "select retention_days from tenants where tenant_id = %s", (tenant,)
        ).fetchone() == (30,)
        ensure_partitions(conn, DAY, DAY)
        insert_execution(conn, tenant, at(DAY, 23.9))
        # rows of a tenant that was deleted since (raw rows have no foreign key) keep it too
        gone = create_tenant(conn, "gone", retention_days=1)
        orphan = insert_execution(conn, gone, at(DAY, 1))
        conn.execute("delete from tenants where tenant_id = %s", (gone,))

    day_30 = run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=30))
    assert day_30.days == ()
    with raw_db.connect() as conn:
        assert DAY in partitions(conn, "executions")

    day_31 = run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=31))
    executions = next(d for d in day_31.days if d.table == "executions")
    assert (executions.day, executions.outcome, executions.rows) == (DAY, "partition_dropped", 2)
    assert str(orphan) in _archived_ids(raw_db, "executions", "execution_id")


def test_running_again_changes_nothing(raw_db):
    with raw_db.connect() as conn:
        short = create_tenant(conn, "short", retention_days=1)
        long = create_tenant(conn, "long", retention_days=60)
        insert_edge_cases(conn, short, DAY)
        insert_edge_cases(conn, long, DAY)
    today = DAY + timedelta(days=4)
    first = run_retention(raw_db.url, raw_db.archive, today=today)
    assert first.days
    assert first.errors == []
    with raw_db.connect() as conn:
        manifest_before = _manifest(conn)
        rows_before = raw_rows(conn, "executions")
    files_before = {p: p.stat().st_mtime_ns for p in raw_db.archive.rglob("*.parquet")}

    again = run_retention(raw_db.url, raw_db.archive, today=today)

    assert again.days == ()
    with raw_db.connect() as conn:
        assert _manifest(conn) == manifest_before
        assert raw_rows(conn, "executions") == rows_before
    assert {p: p.stat().st_mtime_ns for p in raw_db.archive.rglob("*.parquet")} == files_before
    assert not [p for p in raw_db.archive.rglob("*") if p.name.startswith(".")]


def test_a_run_stopped_between_verifying_and_dropping_is_finished_by_the_next(raw_db, monkeypatch):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "acme", retention_days=1)
        insert_edge_cases(conn, tenant, DAY)
        rows = raw_rows(conn, "executions")
    monkeypatch.setattr(retention, "_LOCK_TIMEOUT", "50ms")

    # a reader holds the day's partition as the first run comes to drop it
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with raw_db.connect() as conn, conn.transaction():
            conn.execute(f"lock table raw.executions_{DAY:%Y%m%d} in access share mode")
            conn.execute("lock table raw.executions in access share mode")
            holding.set()
            release.wait()

    reader = threading.Thread(target=hold)
    reader.start()
    holding.wait()
    try:
        stopped = run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=3))
    finally:
        release.set()
        reader.join()

    executions = next(d for d in stopped.days if d.table == "executions")
    assert executions.outcome == "kept"
    assert executions.files[0].written
    assert not executions.files[0].removed
    assert "busy" in " ".join(stopped.errors)
    with raw_db.connect() as conn:
        assert raw_rows(conn, "executions") == rows
        verified = [m for m in _manifest(conn) if m[0] == "executions"]
        assert [(m[6], m[7]) for m in verified] == [(True, False)]

    finished = run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=3))

    executions = next(d for d in finished.days if d.table == "executions")
    assert executions.outcome == "partition_dropped"
    assert not executions.files[0].written  # the verified file was checked again and reused
    assert finished.errors == []
    with raw_db.connect() as conn:
        assert raw_rows(conn, "executions") == []


def test_rows_arriving_after_a_part_was_dropped_go_to_the_next_part(raw_db):
    with raw_db.connect() as conn:
        short = create_tenant(conn, "short", retention_days=1)
        long = create_tenant(conn, "long", retention_days=60)
        insert_edge_cases(conn, long, DAY)  # keeps the partition
        first_id = insert_execution(conn, short, at(DAY, 5))
    run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=3))
    part_0 = next(raw_db.archive.rglob(f"tenant_id={short}/date={DAY}/part-0.parquet"))
    part_0_bytes = part_0.read_bytes()
    with raw_db.connect() as conn:  # a late load as the owner (ingest refuses such old events)
        late_id = insert_execution(conn, short, at(DAY, 6))

    report = run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=3))

    (executions,) = [d for d in report.days if d.table == "executions"]
    assert [(f.path.rsplit("/", 1)[1], f.rows) for f in executions.files] == [("part-1.parquet", 1)]
    assert part_0.read_bytes() == part_0_bytes
    assert _archived_ids(raw_db, "executions", "execution_id") >= {str(first_id), str(late_id)}
    with raw_db.connect() as conn:
        assert raw_rows(conn, "executions", "tenant_id = %s", (short,)) == []
