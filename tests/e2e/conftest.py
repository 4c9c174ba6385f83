"""The real API in a subprocess (`python -m meta_agent api`) on the session's test database,
so tests can kill it with SIGKILL and start it again like an operator's crash would."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from meta_agent import tenants
from meta_agent.api_process import ApiProcess


@pytest.fixture(scope="module")
def api_process(servers: Any, migrated_database: Any) -> Iterator[ApiProcess]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")}
    environ.update(
        METAAGENT_DATABASE_URL=migrated_database.owner_url,
        METAAGENT_APP_DATABASE_URL=migrated_database.app_url,
        METAAGENT_REDIS_URL=servers.redis.url(),
        METAAGENT_LOG_LEVEL="WARNING",
        METAAGENT_DB_POOL_MAX_SIZE="20",
    )
    api = ApiProcess(environ)
    api.start()
    yield api
    api.stop()


@dataclass(frozen=True)
class E2ETenant:
    tenant_id: uuid.UUID
    key: str


@pytest.fixture
def e2e_tenant(migrated_database: Any) -> Callable[[], E2ETenant]:
    def make() -> E2ETenant:
        with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
            tenant_id = tenants.create_tenant(conn, f"e2e-{uuid.uuid4().hex[:10]}")
            key = tenants.create_api_key(conn, tenant_id, scopes=["ingest", "read"]).key
        return E2ETenant(tenant_id, key)

    return make
