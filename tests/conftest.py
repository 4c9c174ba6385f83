"""Shared fixtures: one pair of real embedded servers per test session, fresh databases on demand.

The session's home has a space in its path on purpose: every test then also proves that
paths with spaces work end to end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from meta_agent import migrations
from meta_agent.embedded import APP_ROLE, OWNER_ROLE, EmbeddedRedis, EmbeddedServers

# Channel secrets are encrypted with METAAGENT_SECRET_KEY; without it, development settings
# keep a key file under the home, which for the tests would be the checkout's .meta_agent/.
# Set here, it is also the key of every API and realtime process the tests start.
os.environ.setdefault("METAAGENT_SECRET_KEY", Fernet.generate_key().decode())


@dataclass(frozen=True)
class TestDatabase:
    name: str
    owner_url: str
    app_url: str
    superuser_url: str


@pytest.fixture(scope="session")
def servers() -> Iterator[EmbeddedServers]:
    # Not under pytest's basetemp: every pytest session resets that root to mode 0700, which
    # would lock out the server's system user (as root) mid-run if two sessions overlap.
    home = Path(tempfile.mkdtemp(prefix="meta agent home "))
    embedded = EmbeddedServers(home)
    embedded.up()
    yield embedded
    embedded.down()
    shutil.rmtree(home, ignore_errors=True)


def _create_database(servers: EmbeddedServers) -> TestDatabase:
    name = f"test_{uuid.uuid4().hex[:12]}"
    pg = servers.postgres
    with psycopg.connect(pg.url("postgres", "postgres"), autocommit=True) as conn:
        conn.execute(f"create database {name} owner {OWNER_ROLE}")
    with psycopg.connect(pg.url("postgres", name), autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
    return TestDatabase(
        name, pg.url(OWNER_ROLE, name), pg.url(APP_ROLE, name), pg.url("postgres", name)
    )


def _drop_database(servers: EmbeddedServers, db: TestDatabase) -> None:
    with psycopg.connect(servers.postgres.url("postgres", "postgres"), autocommit=True) as conn:
        conn.execute(f"drop database if exists {db.name} with (force)")


@pytest.fixture
def fresh_database(servers: EmbeddedServers) -> Iterator[TestDatabase]:
    """An empty database (vector extension only), dropped after the test."""
    db = _create_database(servers)
    yield db
    _drop_database(servers, db)


@pytest.fixture(scope="session")
def migrated_database(servers: EmbeddedServers) -> Iterator[TestDatabase]:
    """One fully migrated database shared by the tests that only read the schema."""
    db = _create_database(servers)
    migrations.migrate(db.owner_url)
    yield db
    _drop_database(servers, db)


@pytest.fixture(scope="module")
def owner_conn(migrated_database: TestDatabase) -> Iterator[psycopg.Connection]:
    """An autocommit connection of the owner role to the session's migrated database."""
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def own_redis(label: str) -> Iterator[str]:
    """A real Redis server of its own, stopped and removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix=f"{label} redis "))
    server = EmbeddedRedis(home)
    server.start()
    try:
        yield server.url()
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis for the realtime and breaker tests alone, apart from the session's shared
    one: these tests load many scripts and keys, and none of it should reach other packages."""
    with own_redis("realtime") as url:
        yield url


@pytest.fixture
def lost_redis() -> Iterator[str]:
    """A Redis of this test alone, which it may FLUSHALL to play a Redis loss."""
    with own_redis("lost") as url:
        yield url
