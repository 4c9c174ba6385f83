"""Fixtures: a local ingest server (see ingest_stub.py) and loggers pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ingest_stub import FlakyServer, IngestServer

from meta_agent_sdk import AgentLogger


@pytest.fixture
def server() -> Iterator[IngestServer]:
    srv = IngestServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    srv = FlakyServer()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def make_logger(tmp_path: Path) -> Iterator[Any]:
    """Loggers with fast timings and a private spool; all shut down after the test."""
    made: list[AgentLogger] = []

    def make(endpoint: str, agent: str = "test-agent", **kwargs: Any) -> AgentLogger:
        options: dict[str, Any] = {
            "api_key": "test-key",
            "spool_dir": tmp_path / "spool",
            "flush_interval_s": 0.05,
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.2,
            "request_timeout_s": 5.0,
            "environ": {},
        }
        options.update(kwargs)
        logger = AgentLogger(agent, endpoint=endpoint, **options)
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.shutdown(2.0)
