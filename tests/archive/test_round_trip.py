"""Archived days read back from Parquet with DuckDB equal, row for row, what was dropped."""

from __future__ import annotations

from datetime import timedelta

import pyarrow.parquet as pq

from meta_agent.archive import SCHEMA_VERSION, connect_archive, run_retention
from tests.archive.conftest import (
    DAY,
    RawDatabase,
    columns_of,
    create_tenant,
    day_filter,
    insert_edge_cases,
    load_small_fleet,
    partitions,
    raw_rows,
)

FIRST, SECOND, THIRD = DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)


def _archived(raw_db: RawDatabase, table: str, names: list[str]) -> list[tuple]:
    with connect_archive(raw_db.archive) as con:
        return con.execute(f"select {', '.join(names)} from {table} order by 1").fetchall()


def test_archived_days_read_back_with_duckdb_equal_the_rows_that_were_dropped(raw_db):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "acme", retention_days=30)
        load_small_fleet(conn, tenant, last_day=THIRD, days=3)
        first_day = insert_edge_cases(conn, tenant, FIRST)  # crosses into SECOND
        last_day = insert_edge_cases(conn, tenant, SECOND)  # crosses into THIRD, which stays
        where, params = day_filter(FIRST, SECOND)
        before = {t: raw_rows(conn, t, where, params) for t in ("executions", "actions")}
        names = {t: [name for name, _ in columns_of(conn, t)] for t in before}
        kept_before = {t: raw_rows(conn, t, *day_filter(THIRD, THIRD)) for t in before}

    # FIRST and SECOND are 31 and 30 days old: older than a 30-day retention; THIRD is not
    report = run_retention(raw_db.url, raw_db.archive, today=SECOND + timedelta(days=31))

    assert report.errors == []
    assert {(d.table, d.day, d.outcome) for d in report.days} == {
        (t, d, "partition_dropped") for t in before for d in (FIRST, SECOND)
    }
    with raw_db.connect() as conn:
        for table in before:
            assert partitions(conn, table) & {FIRST, SECOND} == set()
            assert THIRD in partitions(conn, table)
            assert raw_rows(conn, table, *day_filter(THIRD, THIRD)) == kept_before[table]
    for table, rows in before.items():
        assert len(rows) > 100
        assert _archived(raw_db, table, names[table]) == rows
    assert sum(d.rows for d in report.days) == sum(len(rows) for rows in before.values())

    # an execution is archived with its own start day, each of its actions with theirs
    with connect_archive(raw_db.archive) as con:
        day_of = dict(con.execute("select action_id, date from actions").fetchall())
        crossing = con.execute(
            "select date from executions where execution_id = ?", [str(first_day["crossing"])]
        ).fetchall()
    assert crossing == [(FIRST,)]
    assert day_of[str(first_day["action_before_midnight"])] == FIRST
    assert day_of[str(first_day["action_after_midnight"])] == SECOND
    assert day_of[str(last_day["action_before_midnight"])] == SECOND
    assert str(last_day["action_after_midnight"]) not in day_of  # THIRD is still in Postgres


def test_files_are_hive_partitioned_by_tenant_and_date_and_carry_the_schema_version(raw_db):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "acme", retention_days=1)
        insert_edge_cases(conn, tenant, FIRST)

    run_retention(raw_db.url, raw_db.archive, today=FIRST + timedelta(days=3))

    files = sorted(p.relative_to(raw_db.archive).as_posix() for p in raw_db.archive.rglob("*"))
    expected = [
        f"v{SCHEMA_VERSION}/{table}/tenant_id={tenant}/date={day}/part-0.parquet"
        for table, day in [("actions", FIRST), ("actions", SECOND), ("executions", FIRST)]
    ]
    assert [f for f in files if f.endswith(".parquet")] == expected
    parquet = pq.ParquetFile(raw_db.archive / expected[-1])
    assert parquet.metadata.metadata[b"meta_agent.schema_version"] == b"1"
    types = {field.name: str(field.type) for field in parquet.schema_arrow}
    assert types["execution_id"] == "string"
    assert types["started_at"] == "timestamp[us, tz=UTC]"
    assert types["input"] == "extension<arrow.json>"
    assert types["cost_usd"] == "decimal128(14, 8)"
    assert not parquet.schema_arrow.field("tenant_id").nullable
