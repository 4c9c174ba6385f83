"""Caller-thread cost of logging, against OpenTelemetry's BatchSpanProcessor, and end-to-end
throughput SDK → API → Postgres, all in one run on the embedded default.

    python -m bench.sdk [--actions 200000] [--e2e-actions 500000] [--json]

- `sdk_us_p50/p99/p999`: time on the caller's thread to log one action inside an execution,
  while the worker exports to a real API process.
- `otel_us_p50`: the same shape of work with the OpenTelemetry SDK (a span started and ended
  under a parent, BatchSpanProcessor, an exporter that discards), measured in the same run;
  `ratio_p50` = ours / OTel's.
- `e2e_actions_per_s`: actions logged until all of them are stored in Postgres.
- `floor_actions_per_s`: the same stored rows, deleted and written back into the same tables
  (indexes, partitions and triggers included) by one binary COPY per table with no Python in
  the loop: what this machine's Postgres alone allows. `e2e_to_floor` is their ratio.
Goals: ratio_p50 <= 0.1, sdk_us_p999 <= 100, e2e_actions_per_s >= 50,000.
"""

from __future__ import annotations

import argparse
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

from bench.harness import print_result, quantile, served_tenant

_ACTIONS_PER_EXECUTION = 100


class _Discard(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _percentile_us(samples_ns: list[int], q: float) -> float:
    return quantile([float(s) for s in samples_ns], q) / 1000.0


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


def copy_floor(owner_url: str, tenant_id: uuid.UUID) -> tuple[int, float]:
    """Actions stored, and seconds to write them (with their executions) back by bare COPY."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        saved: dict[str, bytes] = {}
        for table in ("raw.executions", "raw.actions"):
            with conn.cursor().copy(
                f"copy (select * from {table} where tenant_id = %s) to stdout (format binary)",
                (tenant_id,),
            ) as copy:
                saved[table] = b"".join(bytes(chunk) for chunk in copy)
        actions = conn.execute(
            "select count(*) from raw.actions where tenant_id = %s", (tenant_id,)
        ).fetchone()
        for table in ("raw.actions", "raw.executions"):
            conn.execute(f"delete from {table} where tenant_id = %s", (tenant_id,))
        conn.execute("vacuum raw.actions, raw.executions")
        began = time.perf_counter()
        with conn.transaction():
            for table, data in saved.items():
                with conn.cursor().copy(f"copy {table} from stdin (format binary)") as copy:
                    copy.write(data)
        return int(actions[0]) if actions else 0, time.perf_counter() - began


def run(actions: int, e2e_actions: int, workers: int) -> dict[str, Any]:
    with (
        served_tenant(["ingest"], workers=workers) as served,
        tempfile.TemporaryDirectory() as spool,
    ):
        # a buffer that holds the whole burst: the figure is delivery throughput, not the
        # spool's replay pace after an overflow
        logger = AgentLogger(
            "bench-agent", api_key=served.key, endpoint=served.api.url, spool_dir=Path(spool),
            max_buffer_items=2 * (actions + e2e_actions), batch_max_items=2_000,
            batch_max_bytes=4_000_000,
        )  # fmt: skip
        otel = measure_otel(actions)
        ours = measure_sdk(logger, actions)
        logger.flush(120)
        began = time.perf_counter()
        measure_sdk(logger, e2e_actions)
        target = (actions + e2e_actions) // _ACTIONS_PER_EXECUTION * _ACTIONS_PER_EXECUTION
        items = target + target // _ACTIONS_PER_EXECUTION  # actions and their executions
        # the server answers a batch once its rows are committed, so `sent` counts stored
        # items; polling count(*) over the growing table instead took Postgres time from
        # the very COPY being measured. The count is checked once, at the end.
        deadline = time.monotonic() + 600
        while logger.stats().sent < items and time.monotonic() < deadline:
            time.sleep(0.01)
        e2e_seconds = time.perf_counter() - began
        stored = _stored_actions(served.owner_url, served.tenant_id)
        if stored < target:
            raise RuntimeError(f"only {stored} of {target} actions stored")
        logger.shutdown(30)
        floor_actions, floor_seconds = copy_floor(served.owner_url, served.tenant_id)
    sdk_p50 = _percentile_us(ours, 0.5)
    otel_p50 = _percentile_us(otel, 0.5)
    return {
        "sdk_us_p50": round(sdk_p50, 3),
        "sdk_us_p99": round(_percentile_us(ours, 0.99), 3),
        "sdk_us_p999": round(_percentile_us(ours, 0.999), 3),
        "sdk_us_mean": round(statistics.fmean(ours) / 1000, 3),
        "otel_us_p50": round(otel_p50, 3),
        "ratio_p50": round(sdk_p50 / otel_p50, 3),
        "e2e_actions_per_s": round(e2e_actions / e2e_seconds),
        "floor_actions_per_s": round(floor_actions / floor_seconds),
        "e2e_to_floor": round(e2e_actions / e2e_seconds / (floor_actions / floor_seconds), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sdk", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--actions", type=int, default=200_000)
    parser.add_argument("--e2e-actions", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2, help="API processes (the cores here)")
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line (always printed)"
    )
    args = parser.parse_args(argv)
    result = run(args.actions, args.e2e_actions, args.workers)
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    main()
