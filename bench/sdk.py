"""Caller-thread cost of logging, against OpenTelemetry's BatchSpanProcessor, and end-to-end
throughput SDK → API → Postgres, all in one run on the embedded default.

    python -m bench.sdk [--actions 200000] [--e2e-actions 500000] [--json]

- `sdk_us_p50/p99/p999`: time on the caller's thread to log one action inside an execution,
  while the worker exports to a real API process.
- `otel_us_p50`: the same shape of work with the OpenTelemetry SDK (a span started and ended
  under a parent, BatchSpanProcessor, an exporter that discards), measured in the same run;
  `ratio_p50` = ours / OTel's.
- `e2e_actions_per_s`: actions logged until all of them are stored in Postgres.
Goals: ratio_p50 <= 0.1, sdk_us_p999 <= 100, e2e_actions_per_s >= 50,000.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from meta_agent_sdk import AgentLogger
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.load import scratch_database
from meta_agent import tenants
from meta_agent.api_process import ApiProcess
from meta_agent.embedded import APP_ROLE, EmbeddedServers
from meta_agent.errors import MetaAgentError
from meta_agent.settings import load_settings

_ACTIONS_PER_EXECUTION = 100


class _Discard(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _percentile(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def measure_sdk(logger: AgentLogger, actions: int) -> list[int]:
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(actions // _ACTIONS_PER_EXECUTION):
        with logger.execution() as ex:
            for _ in range(_ACTIONS_PER_EXECUTION):
                began = clock()
                ex.tool_call("search", duration_ms=1.0)
                samples.append(clock() - began)
    return samples


def measure_otel(actions: int) -> list[int]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Discard()))
    tracer = provider.get_tracer("bench")
    samples: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(actions // _ACTIONS_PER_EXECUTION):
        with tracer.start_as_current_span("execution"):
            for _ in range(_ACTIONS_PER_EXECUTION):
                began = clock()
                span = tracer.start_span("search")
                span.end()
                samples.append(clock() - began)
    provider.shutdown()
    return samples


def _stored_actions(url: str, tenant_id: uuid.UUID) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from raw.actions where tenant_id = %s", (tenant_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def run(actions: int, e2e_actions: int) -> dict[str, Any]:
    settings = load_settings()
    if not (settings.uses_embedded_postgres and settings.uses_embedded_redis):
        raise MetaAgentError("bench.sdk runs on the embedded default: unset the METAAGENT_*_URL")
    servers = EmbeddedServers(settings.home)
    servers.up()
    with scratch_database(servers) as owner_url:
        with psycopg.connect(owner_url, autocommit=True) as conn:
            tenant_id = tenants.create_tenant(conn, "bench")
            key = tenants.create_api_key(conn, tenant_id, scopes=["ingest"]).key
        database = owner_url.split("@/", 1)[1].split("?", 1)[0]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")}
        environ.update(
            METAAGENT_DATABASE_URL=owner_url,
            METAAGENT_APP_DATABASE_URL=servers.postgres.url(APP_ROLE, database),
            METAAGENT_REDIS_URL=servers.redis.url(),
            METAAGENT_LOG_LEVEL="WARNING",
            METAAGENT_DB_POOL_MAX_SIZE="20",
        )
        api = ApiProcess(environ)
        api.start()
        try:
            with tempfile.TemporaryDirectory() as spool:
                logger = AgentLogger(
                    "bench-agent", api_key=key, endpoint=api.url, spool_dir=Path(spool)
                )
                otel = measure_otel(actions)
                ours = measure_sdk(logger, actions)
                logger.flush(120)
                began = time.perf_counter()
                measure_sdk(logger, e2e_actions)
                target = actions // _ACTIONS_PER_EXECUTION * _ACTIONS_PER_EXECUTION
                target += e2e_actions // _ACTIONS_PER_EXECUTION * _ACTIONS_PER_EXECUTION
                deadline = time.monotonic() + 600
                while (
                    _stored_actions(owner_url, tenant_id) < target and time.monotonic() < deadline
                ):
                    time.sleep(0.1)
                e2e_seconds = time.perf_counter() - began
                logger.shutdown(30)
        finally:
            api.stop()
    sdk_p50 = _percentile(ours, 0.5)
    otel_p50 = _percentile(otel, 0.5)
    return {
        "sdk_us_p50": round(sdk_p50, 3),
        "sdk_us_p99": round(_percentile(ours, 0.99), 3),
        "sdk_us_p999": round(_percentile(ours, 0.999), 3),
        "sdk_us_mean": round(statistics.fmean(ours) / 1000, 3),
        "otel_us_p50": round(otel_p50, 3),
        "ratio_p50": round(sdk_p50 / otel_p50, 3),
        "e2e_actions_per_s": round(e2e_actions / e2e_seconds),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sdk", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--actions", type=int, default=200_000)
    parser.add_argument("--e2e-actions", type=int, default=500_000)
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line (always printed)"
    )
    args = parser.parse_args(argv)
    result = run(args.actions, args.e2e_actions)
    if not args.json:
        for name, value in result.items():
            print(f"{name:20} {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
