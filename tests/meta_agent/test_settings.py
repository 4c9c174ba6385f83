"""Settings: defaults mean embedded servers; bad or unknown variables fail naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from meta_agent.connections import derive_app_url, describe
from meta_agent.errors import SettingsError
from meta_agent.settings import load_settings


def test_defaults_use_the_embedded_servers_under_a_home_in_the_working_directory():
    settings = load_settings({})
    assert settings.uses_embedded_postgres
    assert settings.uses_embedded_redis
    assert settings.home == Path(".meta_agent").absolute()


def test_values_are_read_with_the_prefix():
    settings = load_settings(
        {"METAAGENT_DATABASE_URL": "postgresql://u:p@db:5432/x", "METAAGENT_LOG_LEVEL": "debug"}
    )
    assert not settings.uses_embedded_postgres
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"METAAGENT_DATABSE_URL": "postgresql://x"}, "unknown setting METAAGENT_DATABSE_URL"),
        ({"METAAGENT_LOG_LEVEL": "loud"}, "invalid METAAGENT_LOG_LEVEL"),
        ({"METAAGENT_DATABASE_URL": "mysql://x"}, "invalid METAAGENT_DATABASE_URL"),
        ({"METAAGENT_REDIS_URL": "http://x"}, "invalid METAAGENT_REDIS_URL"),
        ({"METAAGENT_CONNECT_TIMEOUT_S": "soon"}, "invalid METAAGENT_CONNECT_TIMEOUT_S"),
        ({"METAAGENT_DB_POOL_MAX_SIZE": "0"}, "invalid METAAGENT_DB_POOL_MAX_SIZE"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_variable(environ, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(environ)


def test_sdk_variables_are_not_unknown_to_the_server():
    load_settings({"METAAGENT_API_KEY": "ma_x", "METAAGENT_ENDPOINT": "http://localhost"})


def test_secrets_do_not_show_in_the_settings_repr_or_in_messages():
    settings = load_settings({"METAAGENT_DATABASE_URL": "postgresql://u:hunter2@db/x"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in describe("postgresql://u:hunter2@db:5432/x")


def test_the_app_url_is_the_owner_url_with_the_app_role_and_its_own_password():
    url = derive_app_url("postgresql://owner:pw@db.example:5433/meta?sslmode=require", "s3cr:t")
    assert url == "postgresql://meta_agent_app:s3cr%3At@db.example:5433/meta?sslmode=require"
