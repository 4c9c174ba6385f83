"""The API under test: the real app factory on the session's migrated database and Redis.

One app and one TestClient (which runs the lifespan: pool, Redis client) serve the whole
session. Tenant names are unique, because every test shares the one database.

That database is the API tests' own, with the warehouse's marts built (empty) once, as after
the first daily run: the mart routes read real tables. It is not the session's shared
migrated database, whose catalog-driven isolation test would find the marts without rows.

The modules that check the numbers of the warehouse routes get `marts`: the dbt tests' raw
data (two tenants' simulated fleets, SLA definitions) in a database of the module's own, every
mart built once over its days, and `marts_api`, the app on that database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from meta_agent import migrations
from meta_agent.connections import ServerUrls
from meta_agent.embedded import EmbeddedServers
from meta_agent.settings import Settings, load_settings
from meta_agent.tenants import SCOPES, create_api_key
from tests.api.support import Tenant, World, ensure_partitions, make_tenant, seed_world
from tests.conftest import TestDatabase, _create_database, _drop_database
from tests.dbt.conftest import Warehouse, warehouse, warehouse_template  # noqa: F401 (fixtures)
from tests.dbt.runner import DbtTarget, run_dbt


@pytest.fixture(scope="session")
def migrated_database(
    servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """For the API tests: a migrated database of their own whose marts dbt has built."""
    db = _create_database(servers)
    migrations.migrate(db.owner_url)
    target_path: Path = tmp_path_factory.mktemp("api dbt target")
    run_dbt(
        DbtTarget(servers.postgres.socket_dir, db.name),
        "build", "--resource-type", "seed", "--resource-type", "model",
        target_path=target_path,
    )  # fmt: skip
    yield db
    _drop_database(servers, db)


@pytest.fixture(scope="session")
def urls(servers: EmbeddedServers, migrated_database: Any) -> ServerUrls:
    return ServerUrls(migrated_database.owner_url, migrated_database.app_url, servers.redis.url())


@pytest.fixture(scope="session")
def api_settings() -> Settings:
    return load_settings({})


@pytest.fixture(scope="session")
def build_app(urls: ServerUrls) -> Callable[[Settings], FastAPI]:
    return lambda settings: create_app(settings, urls)


@pytest.fixture(scope="session")
def app(build_app: Callable[[Settings], FastAPI], api_settings: Settings) -> FastAPI:
    return build_app(api_settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def owner(migrated_database: Any) -> Iterator[psycopg.Connection]:
    """The owner role (BYPASSRLS): seeds what has no endpoint yet, and counts rows."""
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        today = dt.datetime.now(dt.UTC).date()
        ensure_partitions(conn, today - dt.timedelta(days=40), today + dt.timedelta(days=2))
        yield conn


@pytest.fixture(scope="session")
def new_tenant(owner: psycopg.Connection) -> Callable[..., Tenant]:
    return lambda label="tenant": make_tenant(owner, label)


@pytest.fixture
def tenant(new_tenant: Callable[..., Tenant]) -> Tenant:
    return new_tenant("tenant-a")


@pytest.fixture
def other_tenant(new_tenant: Callable[..., Tenant]) -> Tenant:
    return new_tenant("tenant-b")


@pytest.fixture
def world(client: TestClient, owner: psycopg.Connection, tenant: Tenant) -> World:
    return seed_world(client, owner, tenant)


@pytest.fixture
def other_world(client: TestClient, owner: psycopg.Connection, other_tenant: Tenant) -> World:
    return seed_world(client, owner, other_tenant)


@pytest.fixture(scope="module")
def marts(warehouse: Warehouse) -> Warehouse:  # noqa: F811
    """The module's copy of the dbt tests' raw data, with every mart built over its days."""
    warehouse.dbt("build", "--resource-type", "seed", "--resource-type", "model")
    return warehouse


@pytest.fixture(scope="module")
def fleet_tenants(marts: Warehouse) -> tuple[Tenant, Tenant]:
    """The warehouse's two tenants, each with a key per scope."""
    keyed = []
    with psycopg.connect(marts.db.owner_url, autocommit=True) as conn:
        for tenant_id in (marts.tenant_a, marts.tenant_b):
            keys = {s: create_api_key(conn, tenant_id, scopes=[s], name=s) for s in SCOPES}
            keyed.append(Tenant(tenant_id, str(tenant_id), keys))
    return keyed[0], keyed[1]


@pytest.fixture(scope="module")
def marts_api(marts: Warehouse, servers: EmbeddedServers) -> Iterator[TestClient]:
    """The app on the warehouse's database."""
    urls = ServerUrls(marts.db.owner_url, marts.db.app_url, servers.redis.url())
    with TestClient(create_app(load_settings({}), urls)) as test_client:
        yield test_client
