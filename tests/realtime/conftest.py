"""Fixtures shared by the realtime tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from meta_agent.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis for the realtime tests alone, apart from the session's shared one: these
    tests load many scripts and keys, and none of it should reach other test packages."""
    home = Path(tempfile.mkdtemp(prefix="realtime redis "))
    server = EmbeddedRedis(home)
    server.start()
    yield server.url()
    server.stop()
    shutil.rmtree(home, ignore_errors=True)
