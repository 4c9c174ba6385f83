"""Where the Dagster instance keeps its runs: the `dagster` database of the project's own
server, derived from the owner URL by a pure function."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagster_project.instance import (
    STORAGE_URL_VARIABLE,
    dagster_database_url,
    prepare_dagster_home,
    storage_url,
)


def test_a_host_url_keeps_its_server_role_password_and_options():
    url = "postgresql://meta_agent:s3cr%40t@db.internal:5433/meta_agent?sslmode=require"
    assert dagster_database_url(url) == (
        "postgresql://meta_agent:s3cr%40t@db.internal:5433/dagster?sslmode=require"
    )


def test_a_unix_socket_url_keeps_its_directory_byte_for_byte():
    # libpq reads '+' literally: a re-encoded space would point at another directory
    url = "postgresql://meta_agent@/meta_agent?host=%2Ftmp%2Fmeta%20agent%20home%2Frun"
    assert dagster_database_url(url) == (
        "postgresql://meta_agent@/dagster?host=%2Ftmp%2Fmeta%20agent%20home%2Frun"
    )


def test_a_dbname_parameter_is_replaced_too():
    url = "postgresql://u@/ignored?dbname=meta_agent&host=%2Frun%20dir"
    assert dagster_database_url(url) == "postgresql://u@/dagster?dbname=dagster&host=%2Frun%20dir"


def test_the_postgres_scheme_alias_and_a_missing_database_work():
    assert dagster_database_url("postgres://u@h") == "postgres://u@h/dagster"


def test_other_schemes_are_refused():
    with pytest.raises(ValueError, match="not a postgresql"):
        dagster_database_url("mysql://u@h/db")


def test_dagster_postgres_gets_the_psycopg2_driver_it_is_built_on():
    url = "postgresql://meta_agent@/meta_agent?host=%2Frun"
    assert storage_url(url) == "postgresql+psycopg2://meta_agent@/dagster?host=%2Frun"


def test_the_instance_file_names_the_variable_never_the_url(tmp_path: Path):
    url = "postgresql://meta_agent:hunter2@db:5432/meta_agent"
    environment = prepare_dagster_home(tmp_path, url)
    written = (tmp_path / "dagster" / "dagster.yaml").read_text()
    assert "hunter2" not in written
    config = yaml.safe_load(written)
    assert config["storage"]["postgres"]["postgres_url"] == {"env": STORAGE_URL_VARIABLE}
    assert config["telemetry"] == {"enabled": False}
    assert environment == {
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        STORAGE_URL_VARIABLE: "postgresql+psycopg2://meta_agent:hunter2@db:5432/dagster",
    }
