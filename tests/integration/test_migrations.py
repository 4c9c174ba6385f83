"""Migrations: apply in order once, record checksums, refuse an edited applied file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest

from meta_agent import migrations
from meta_agent.errors import MigrationError


def test_a_fresh_database_migrates_and_a_second_run_does_nothing(fresh_database):
    applied = migrations.migrate(fresh_database.owner_url)
    on_disk = migrations.discover()
    assert [m.version for m in applied] == [m.version for m in on_disk]
    assert migrations.migrate(fresh_database.owner_url) == []
    assert migrations.pending(fresh_database.owner_url) == []
    with psycopg.connect(fresh_database.owner_url) as conn:
        rows = conn.execute(
            "select version, checksum from schema_migrations order by version"
        ).fetchall()
    assert rows == [(m.version, m.checksum) for m in on_disk]


def test_a_changed_applied_migration_is_refused(fresh_database, tmp_path: Path):
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, directory)
    migrations.migrate(fresh_database.owner_url, directory=directory)
    first = sorted(directory.glob("*.sql"))[1]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(
        MigrationError, match=re.escape(f"{first.name} changed after it was applied")
    ):
        migrations.migrate(fresh_database.owner_url, directory=directory)


def test_a_failing_migration_leaves_nothing_behind(fresh_database, tmp_path: Path):
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_ok.sql").write_text("create table kept (id int);")
    (directory / "0002_broken.sql").write_text(
        "create table half (id int);\nselect * from nowhere;"
    )
    with pytest.raises(MigrationError, match=re.escape("0002_broken.sql failed")):
        migrations.migrate(fresh_database.owner_url, directory=directory)
    with psycopg.connect(fresh_database.owner_url) as conn:
        assert conn.execute("select to_regclass('kept') is not null").fetchone() == (True,)
        assert conn.execute("select to_regclass('half') is null").fetchone() == (True,)
        versions = conn.execute("select version from schema_migrations").fetchall()
    assert versions == [(1,)]


def test_the_database_being_ahead_of_the_code_is_refused(fresh_database, tmp_path: Path):
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_a.sql").write_text("select 1;")
    (directory / "0002_b.sql").write_text("select 2;")
    migrations.migrate(fresh_database.owner_url, directory=directory)
    (directory / "0002_b.sql").unlink()
    with pytest.raises(MigrationError, match="0002_b, which this code does not have"):
        migrations.migrate(fresh_database.owner_url, directory=directory)


@pytest.mark.parametrize("bad_name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_badly_named_files_are_refused(tmp_path: Path, bad_name: str):
    (tmp_path / bad_name).write_text("select 1;")
    with pytest.raises(MigrationError, match=re.escape("is not named NNNN_name.sql")):
        migrations.discover(tmp_path)
