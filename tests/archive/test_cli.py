"""`archive query` and `archive run`, driven through the typer app as the main CLI mounts it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from meta_agent.archive import ArchiveError, run_retention
from meta_agent.archive.cli import archive_app
from meta_agent.settings import get_settings
from tests.archive.conftest import (
    DAY,
    at,
    create_tenant,
    ensure_partitions,
    insert_edge_cases,
    insert_execution,
    load_small_fleet,
    partitions,
)

runner = CliRunner()
GROUPED = (
    "select tenant_id, date, status, count(*) as n, sum(cost_usd) as cost"
    " from executions group by all order by all"
)


@pytest.fixture
def settings_for(monkeypatch):
    """Point the process settings at a test database and archive, for the commands that read them."""

    def point(url: str, archive) -> None:
        monkeypatch.setenv("METAAGENT_DATABASE_URL", url)
        monkeypatch.setenv("METAAGENT_ARCHIVE_DIR", str(archive))
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


@pytest.fixture
def archived(raw_db):
    """Two tenants' fleets, two days of each archived."""
    with raw_db.connect() as conn:
        for seed, name in enumerate(("acme", "globex")):
            tenant = create_tenant(conn, name, retention_days=1)
            load_small_fleet(conn, tenant, last_day=DAY + timedelta(days=1), days=2, seed=seed)
        expected = conn.execute(
            "select tenant_id::text, started_at::date, status, count(*), sum(cost_usd)"
            " from raw.executions group by 1, 2, 3 order by 1, 2, 3"
        ).fetchall()
    report = run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=5))
    assert report.errors == []
    return raw_db, expected


def test_query_runs_grouped_sql_over_the_archive_and_prints_a_table(archived):
    raw_db, expected = archived
    result = runner.invoke(archive_app, ["query", GROUPED, "--archive-dir", str(raw_db.archive)])
    assert result.exit_code == 0, result.output
    assert f"{len(expected)} rows" in result.output
    assert str(expected[0][0]) in result.output


def test_values_that_look_like_markup_print_as_they_are(archived):
    raw_db, _ = archived
    sql = "select '[red]x[/red]' as v, count(*) from executions"
    result = runner.invoke(archive_app, ["query", sql, "--archive-dir", str(raw_db.archive)])
    assert result.exit_code == 0, result.output
    assert "[red]x[/red]" in result.output


def test_query_prints_json_rows_equal_to_postgres_before_the_drop(archived):
    raw_db, expected = archived
    result = runner.invoke(
        archive_app, ["query", GROUPED, "--json", "--archive-dir", str(raw_db.archive)]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["tenant_id"], r["date"], r["status"], r["n"], r["cost"]) for r in rows] == [
        (t, d.isoformat(), s, n, str(c)) for t, d, s, n, c in expected
    ]


def test_query_reads_the_archive_dir_setting(archived, settings_for):
    raw_db, _ = archived
    settings_for(raw_db.url, raw_db.archive)
    result = runner.invoke(archive_app, ["query", "select count(*) as n from actions", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["n"] > 0


def test_bad_sql_is_a_one_line_error_naming_the_cause(archived):
    raw_db, _ = archived
    result = runner.invoke(
        archive_app, ["query", "select nope from executions", "--archive-dir", str(raw_db.archive)]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, ArchiveError)
    assert "the query failed" in str(result.exception)
    assert "nope" in str(result.exception)


def test_an_empty_archive_is_a_clear_error(tmp_path):
    result = runner.invoke(
        archive_app, ["query", "select 1", "--archive-dir", str(tmp_path / "nothing here")]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, ArchiveError)
    assert "holds no files yet" in str(result.exception)


def test_a_table_without_files_is_an_empty_view_with_its_columns(raw_db):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "acme", retention_days=1)
        ensure_partitions(conn, DAY, DAY)
        insert_execution(conn, tenant, at(DAY, 10))
    run_retention(raw_db.url, raw_db.archive, today=DAY + timedelta(days=3))
    result = runner.invoke(
        archive_app,
        ["query", "select count(action_id) as n, count(*) as m from actions", "--json",
         "--archive-dir", str(raw_db.archive)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"n": 0, "m": 0}]


def test_run_archives_now_and_prints_the_report(raw_db, settings_for):
    with raw_db.connect() as conn:
        tenant = create_tenant(conn, "acme", retention_days=2)
        insert_edge_cases(conn, tenant, DAY)
    settings_for(raw_db.url, raw_db.archive)

    result = runner.invoke(archive_app, ["run", "--today", str(DAY + timedelta(days=4)), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    # the next day's executions partition is empty: dropped with no file
    assert {(d["table"], d["day"], d["outcome"], len(d["files"])) for d in report["days"]} == {
        ("executions", str(DAY), "partition_dropped", 1),
        ("executions", str(DAY + timedelta(days=1)), "partition_dropped", 0),
        ("actions", str(DAY), "partition_dropped", 1),
        ("actions", str(DAY + timedelta(days=1)), "partition_dropped", 1),
    }
    assert report["days"][0]["files"][0]["tenant_id"] == str(tenant)
    with raw_db.connect() as conn:
        assert DAY not in partitions(conn, "executions")

    again = runner.invoke(archive_app, ["run", "--today", str(DAY + timedelta(days=4))])
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output


def test_run_refuses_a_bad_date(settings_for, raw_db):
    settings_for(raw_db.url, raw_db.archive)
    result = runner.invoke(archive_app, ["run", "--today", "yesterday"])
    assert result.exit_code == 1
    assert "YYYY-MM-DD" in str(result.exception)
