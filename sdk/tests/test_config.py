"""Settings: arguments beat METAAGENT_* variables, which beat defaults; bad values fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import meta_agent_sdk
from meta_agent_sdk import AgentLogger
from meta_agent_sdk._config import DEFAULT_ENDPOINT

ENV = {
    "METAAGENT_API_KEY": "env-key",
    "METAAGENT_ENDPOINT": "http://env-host:9000",
    "METAAGENT_SPOOL_DIR": "/tmp/env-spool",
}


def test_environment_beats_defaults(tmp_path):
    logger = AgentLogger("a", environ=ENV, disabled=True)
    assert logger.endpoint == "http://env-host:9000/v1/ingest"
    assert logger.spool_dir.parent == Path("/tmp/env-spool")
    assert logger._settings.api_key == "env-key"


def test_arguments_beat_the_environment(tmp_path):
    logger = AgentLogger(
        "a",
        api_key="arg-key",
        endpoint="https://arg-host/v1/ingest",
        spool_dir=tmp_path,
        environ={**ENV, "METAAGENT_DISABLED": "1"},
        disabled=False,
    )
    try:
        assert logger.endpoint == "https://arg-host/v1/ingest"
        assert logger.spool_dir.parent == tmp_path
        assert logger._settings.api_key == "arg-key"
        assert not logger.disabled
    finally:
        logger.shutdown(0.5)


def test_defaults_when_nothing_is_set():
    logger = AgentLogger("a", environ={}, disabled=True)
    assert logger.endpoint == DEFAULT_ENDPOINT + "/v1/ingest"
    assert logger._settings.api_key is None
    assert logger.spool_dir.parts[-3:-1] == ("metaagent", "spool")


def test_the_key_from_the_environment_is_sent(server, tmp_path):
    logger = AgentLogger(
        "a", endpoint=server.url, spool_dir=tmp_path, environ={"METAAGENT_API_KEY": "env-key"}
    )
    with logger.execution():
        pass
    assert logger.shutdown(5)
    (request,) = server.requests()
    assert request.headers["Authorization"] == "Bearer env-key"


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_disabled_accepts_the_usual_true_words(value):
    assert AgentLogger("a", environ={"METAAGENT_DISABLED": value}).disabled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"environ": {"METAAGENT_DISABLED": "maybe"}}, "METAAGENT_DISABLED"),
        ({"endpoint": "ftp://x"}, "endpoint"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"batch_max_items": 6000}, "batch_max_items"),
        ({"flush_interval_s": 0}, "flush_interval_s"),
        ({"spool_fsync": "sometimes"}, "spool_fsync"),
        ({"prices": {"m": (-1.0, 1.0)}}, "prices"),
    ],
)
def test_bad_settings_fail_naming_the_setting(kwargs, message):
    options = {"environ": {}, **kwargs}
    with pytest.raises(ValueError, match=message):
        AgentLogger("a", **options)


@pytest.mark.parametrize("agent", ["", "   ", "x" * 201])
def test_the_agent_name_must_fit_the_protocol(agent):
    with pytest.raises(ValueError, match="agent"):
        AgentLogger(agent, environ={}, disabled=True)


def test_only_the_five_sdk_variables_are_read():
    source = "".join(p.read_text() for p in Path(meta_agent_sdk.__file__).parent.rglob("*.py"))
    names = set(re.findall(r"METAAGENT_[A-Z_]+", source))
    assert names == {
        "METAAGENT_API_KEY",
        "METAAGENT_ENDPOINT",
        "METAAGENT_SPOOL_DIR",
        "METAAGENT_DISABLED",
        "METAAGENT_ENFORCE_CIRCUIT",
    }


@pytest.mark.parametrize(
    ("argument", "environ", "expected"),
    [
        (None, {}, True),  # on by default
        (None, {"METAAGENT_ENFORCE_CIRCUIT": "0"}, False),
        (None, {"METAAGENT_ENFORCE_CIRCUIT": "off"}, False),
        (None, {"METAAGENT_ENFORCE_CIRCUIT": "yes"}, True),
        (True, {"METAAGENT_ENFORCE_CIRCUIT": "0"}, True),  # the argument wins
        (False, {"METAAGENT_ENFORCE_CIRCUIT": "1"}, False),
    ],
)
def test_enforce_circuit_from_argument_then_environment_then_default(
    tmp_path, argument, environ, expected
):
    logger = AgentLogger("a", spool_dir=tmp_path, enforce_circuit=argument, environ=environ)
    try:
        assert logger.enforce_circuit is expected
    finally:
        logger.shutdown(0.5)


def test_a_bad_enforce_circuit_value_names_the_variable():
    with pytest.raises(ValueError, match="METAAGENT_ENFORCE_CIRCUIT"):
        AgentLogger("a", environ={"METAAGENT_ENFORCE_CIRCUIT": "maybe"}, disabled=True)
