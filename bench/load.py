"""Bulk-load rate of the fleet simulator against a bare binary COPY of the same rows.

    python -m bench.load [--executions 1000000] [--days 10] [--seed 7] [--json]

Both runs go into one scratch database on the embedded PostgreSQL, one after the other:
first `load_fleet` (generation, binary encoding and COPY: the real path), then, after
emptying the raw tables, a binary COPY (`write_row` with exact types) of the very same
rows, prepared as Python tuples beforehand so that only the COPY is timed. The last
line is one JSON object: `rows_per_s`, `copy_rows_per_s`, `ratio` (ours / bare).
Goal: ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
import psycopg

from meta_agent import migrations, tenants
from meta_agent.embedded import OWNER_ROLE, EmbeddedServers
from meta_agent.errors import MetaAgentError
from meta_agent.settings import load_settings
from meta_agent.simulate import FleetChunk, default_fleet, iter_chunks, load_fleet
from meta_agent.simulate.frames import pg_type


@contextmanager
def scratch_database(servers: EmbeddedServers) -> Iterator[str]:
    """A migrated database that exists only for this run."""
    name = f"bench_load_{uuid.uuid4().hex[:8]}"
    admin_url = servers.postgres.url("postgres", "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"create database {name} owner {OWNER_ROLE}")
    with psycopg.connect(servers.postgres.url("postgres", name), autocommit=True) as conn:
        conn.execute("create extension if not exists vector")
    url = servers.postgres.url(OWNER_ROLE, name)
    try:
        migrations.migrate(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def _to_uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _to_json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {"uuid": _to_uuid, "jsonb": _to_json}


def _python_rows(frame: pl.DataFrame) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The frame as the tuples a hand-written loader would hold: UUIDs, dicts, Decimals."""
    columns = list(frame.columns)
    converters = [_CONVERTERS.get(pg_type(c)) for c in columns]
    rows = [
        tuple(v if f is None else f(v) for v, f in zip(row, converters, strict=True))
        for row in frame.iter_rows()
    ]
    return columns, rows


def bare_copy_seconds(conn: psycopg.Connection, chunk: FleetChunk) -> float:
    """Time a binary COPY of the chunk's rows, prepared (untimed) as Python tuples."""
    prepared = [
        ("executions", *_python_rows(chunk.executions)),
        ("actions", *_python_rows(chunk.actions)),
    ]
    began = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        for table, columns, rows in prepared:
            statement = psycopg.sql.SQL("copy raw.{} ({}) from stdin (format binary)").format(
                psycopg.sql.Identifier(table),
                psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, columns)),
            )
            with cur.copy(statement) as copy:
                copy.set_types([pg_type(c) for c in columns])
                for row in rows:
                    copy.write_row(row)
    return time.perf_counter() - began


def run(executions: int, days: int, seed: int) -> dict[str, Any]:
    settings = load_settings()
    if not settings.uses_embedded_postgres:
        raise MetaAgentError(
            "bench.load runs on the embedded PostgreSQL: unset METAAGENT_DATABASE_URL"
        )
    servers = EmbeddedServers(settings.home)
    servers.up(redis=False)
    spec = default_fleet(seed=seed, days=days, executions_per_day=max(1, executions // days))
    with scratch_database(servers) as url, psycopg.connect(url, autocommit=True) as conn:
        tenant_id = tenants.create_tenant(conn, "bench")
        report = load_fleet(conn, tenant_id=tenant_id, spec=spec)
        rows = report.executions + report.actions
        print(
            f"ours: {report.executions:,} executions + {report.actions:,} actions"
            f" in {report.seconds:.1f} s",
            file=sys.stderr,
        )
        conn.execute("truncate raw.executions, raw.actions")
        copy_seconds = sum(
            bare_copy_seconds(conn, chunk) for chunk in iter_chunks(spec, tenant_id=tenant_id)
        )
        print(f"bare binary COPY of the same rows: {copy_seconds:.1f} s", file=sys.stderr)
    rows_per_s = rows / report.seconds
    copy_rows_per_s = rows / copy_seconds
    return {
        "executions": report.executions,
        "actions": report.actions,
        "rows_per_s": round(rows_per_s),
        "copy_rows_per_s": round(copy_rows_per_s),
        "ratio": round(rows_per_s / copy_rows_per_s, 3),
        "goal_ratio": 0.7,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line (always printed)"
    )
    args = parser.parse_args(argv)
    result = run(args.executions, args.days, args.seed)
    if not args.json:
        print(
            f"simulator load {result['rows_per_s']:,} rows/s,"
            f" bare COPY {result['copy_rows_per_s']:,} rows/s: ratio {result['ratio']}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
