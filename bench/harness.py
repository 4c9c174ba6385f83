"""What the API benchmarks share: a scratch database on the embedded servers, a tenant with a
key, and a real API process (`python -m meta_agent api`) serving that database."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.load import scratch_database
from meta_agent import tenants
from meta_agent.api_process import ApiProcess
from meta_agent.embedded import APP_ROLE, EmbeddedRedis, EmbeddedServers
from meta_agent.errors import MetaAgentError
from meta_agent.settings import load_settings


@dataclass(frozen=True)
class ServedTenant:
    owner_url: str
    tenant_id: uuid.UUID
    key: str
    api: ApiProcess


@contextmanager
def served_tenant(
    scopes: list[str], *, workers: int = 1, redis_url: str | None = None
) -> Iterator[ServedTenant]:
    """A tenant with a key of `scopes`, served by an API process; the environment the API runs
    with is `served.api.env`. `redis_url`: another Redis than the embedded one (see
    `private_redis`)."""
    settings = load_settings()
    if not (settings.uses_embedded_postgres and settings.uses_embedded_redis):
        raise MetaAgentError(
            "the API benchmarks run on the embedded default: unset METAAGENT_*_URL"
        )
    servers = EmbeddedServers(settings.home)
    servers.up()
    with scratch_database(servers) as owner_url:
        with psycopg.connect(owner_url, autocommit=True) as conn:
            tenant_id = tenants.create_tenant(conn, "bench")
            key = tenants.create_api_key(conn, tenant_id, scopes=scopes).key
        database = owner_url.split("@/", 1)[1].split("?", 1)[0]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")}
        environ.update(
            METAAGENT_DATABASE_URL=owner_url,
            METAAGENT_APP_DATABASE_URL=servers.postgres.url(APP_ROLE, database),
            METAAGENT_REDIS_URL=redis_url or servers.redis.url(),
            METAAGENT_LOG_LEVEL="WARNING",
            # a server in service keeps its pool open; the pool then never grows under load
            METAAGENT_DB_POOL_MIN_SIZE="10",
            METAAGENT_DB_POOL_MAX_SIZE="10",
        )
        api = ApiProcess(environ, workers=workers)
        api.start()
        try:
            yield ServedTenant(owner_url, tenant_id, key, api)
        finally:
            api.stop()


@contextmanager
def private_redis() -> Iterator[str]:
    """An embedded Redis of this run's own (the URL), stopped at the end: a benchmark that
    loads Redis must neither feed on the ingest stream of other runs sharing the embedded one
    nor be slowed by them."""
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as home:
        redis = EmbeddedRedis(Path(home))
        redis.start()
        try:
            yield redis.url()
        finally:
            redis.stop()


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank quantile; NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def print_result(result: dict[str, object], *, as_json: bool) -> None:
    """A table unless --json; the JSON object is always the last line."""
    if not as_json:
        for name, value in result.items():
            print(f"{name:20} {value}")
    print(json.dumps(result))
