"""A simulated warehouse for the Dagster tests: three days of a fleet with its SLAs, loaded once
per session into a template database that each test copies (a file copy, no reload)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import psycopg
import pytest
from psycopg import sql

from meta_agent import migrations, tenants
from meta_agent.embedded import APP_ROLE, OWNER_ROLE, EmbeddedServers
from meta_agent.simulate import default_fleet, load_fleet
from meta_agent.simulate.sla import seed_sla_definitions
from tests.conftest import TestDatabase
from tests.dbt.conftest import MARTS

# Wednesday to Friday; every fault of the plan falls in these days
FLEET = default_fleet(seed=3, days=3, executions_per_day=3_000, end_day=date(2026, 11, 20))


@dataclass(frozen=True)
class Simulated:
    db: TestDatabase
    tenant_id: uuid.UUID


def _admin(servers: EmbeddedServers) -> psycopg.Connection:
    return psycopg.connect(servers.postgres.url("postgres", "postgres"), autocommit=True)


@pytest.fixture(scope="session")
def simulated_template(servers: EmbeddedServers) -> Iterator[tuple[str, uuid.UUID]]:
    name = f"dagster_template_{uuid.uuid4().hex[:8]}"
    pg = servers.postgres
    with _admin(servers) as conn:
        conn.execute(f"create database {name} owner {OWNER_ROLE}")
    with psycopg.connect(pg.url("postgres", name), autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
    migrations.migrate(pg.url(OWNER_ROLE, name))
    with psycopg.connect(pg.url(OWNER_ROLE, name), autocommit=True) as conn:
        tenant_id = tenants.create_tenant(conn, "dagster-tests")
        load_fleet(conn, tenant_id=tenant_id, spec=FLEET)
        seed_sla_definitions(conn, tenant_id, FLEET)
    with _admin(servers) as conn:
        conn.execute(f"alter database {name} with is_template true allow_connections false")
    yield name, tenant_id
    with _admin(servers) as conn:
        conn.execute(f"alter database {name} with is_template false")
        conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def simulated(
    servers: EmbeddedServers, simulated_template: tuple[str, uuid.UUID]
) -> Iterator[Simulated]:
    """A copy of the simulated raw data, nothing built yet."""
    copy = new_copy(servers, simulated_template)
    yield copy
    drop(servers, copy)


def new_copy(servers: EmbeddedServers, template: tuple[str, uuid.UUID]) -> Simulated:
    name, tenant_id = template
    copy = f"dagster_{uuid.uuid4().hex[:12]}"
    with _admin(servers) as conn:
        for attempt in range(20):
            try:
                conn.execute(f"create database {copy} template {name} owner {OWNER_ROLE}")
                break
            except psycopg.errors.ObjectInUse:  # a lingering session on the template
                if attempt == 19:
                    raise
                time.sleep(0.25)
    pg = servers.postgres
    db = TestDatabase(
        copy, pg.url(OWNER_ROLE, copy), pg.url(APP_ROLE, copy), pg.url("postgres", copy)
    )
    return Simulated(db, tenant_id)


def drop(servers: EmbeddedServers, simulated: Simulated) -> None:
    with _admin(servers) as conn:
        conn.execute(f"drop database if exists {simulated.db.name} with (force)")


Snapshot = dict[str, list[tuple[object, ...]]]


def marts_snapshot(database_url: str) -> Snapshot:
    """Every mart's rows, in a stable order."""
    with psycopg.connect(database_url) as conn:
        return {
            mart: sorted(
                conn.execute(sql.SQL("select * from marts.{}").format(sql.Identifier(mart))),
                key=repr,
            )
            for mart in MARTS
        }
