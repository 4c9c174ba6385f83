"""The real API app on the session's migrated database, for the ingest paths."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from meta_agent import tenants
from meta_agent.connections import ServerUrls
from meta_agent.settings import load_settings


@dataclass(frozen=True)
class IngestTenant:
    tenant_id: uuid.UUID
    headers: dict[str, str]


@pytest.fixture(scope="module")
def ingest_client(servers: Any, migrated_database: Any) -> Iterator[TestClient]:
    urls = ServerUrls(migrated_database.owner_url, migrated_database.app_url, servers.redis.url())
    with TestClient(create_app(load_settings({}), urls)) as client:
        yield client


@pytest.fixture
def make_tenant(owner_conn: psycopg.Connection) -> Callable[..., IngestTenant]:
    def make(
        scopes: tuple[str, ...] = ("ingest", "read"), policy: str = "register"
    ) -> IngestTenant:
        tenant_id = tenants.create_tenant(owner_conn, f"ingest-{uuid.uuid4().hex[:10]}")
        owner_conn.execute(
            "update tenants set unknown_agent_policy = %s where tenant_id = %s", (policy, tenant_id)
        )
        key = tenants.create_api_key(owner_conn, tenant_id, scopes=scopes).key
        return IngestTenant(tenant_id, {"Authorization": f"Bearer {key}"})

    return make
