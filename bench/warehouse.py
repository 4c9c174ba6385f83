"""One day of the warehouse through Dagster and dbt, against one hand-written SQL statement.

    python -m bench.warehouse [--executions 1000000] [--seed 7] [--json]

Loads one simulated UTC day of about N executions with their actions (`load_fleet`, the
binary COPY loader) into a scratch database on the embedded PostgreSQL, then, in the same run:

- `seconds_sql_floor`: one SQL statement computing agent_daily_metrics' core over the same
  rows: per tenant, agent and day the execution counts by outcome, success rate, latency
  p50/p90/p95/p99 and mean, tokens, cost, and from the day's actions the action, tool-call,
  failed-tool-call and human-intervention counts, and distinct sessions. It runs with the
  session settings the dbt models use (work_mem, no parallel workers);
- `seconds_total`: `dagster.materialize` of the dbt assets for that day's partition,
  in-process: every staging view, intermediate table and mart, and the 70 dbt tests;
- `seconds_dbt`: the dbt step of that run (process start, parse, build, tests), from the
  run's step events; the slowest nodes of dbt's run_results.json go to stderr.

The last line is one JSON object: `seconds_total`, `seconds_dbt`, `seconds_sql_floor`,
`ratio` (= seconds_dbt / seconds_sql_floor), `executions`, `actions`.
Goals: seconds_total <= 30 for 1M executions, <= 90 for 10M; ratio <= 3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg

from bench.harness import print_result
from bench.load import scratch_database
from dagster_project.warehouse.assets import warehouse_models
from dagster_project.warehouse.resources import WarehouseDatabase, dbt_resource
from meta_agent import tenants
from meta_agent.dbt_target import DBT_PROJECT_DIR
from meta_agent.embedded import EmbeddedServers
from meta_agent.errors import MetaAgentError
from meta_agent.settings import load_settings
from meta_agent.simulate import FleetSpec, default_fleet, expected_executions, load_fleet

DAY = date(2026, 11, 18)  # a Wednesday: weekday traffic

FLOOR_SQL = """
with

executions as (
    select
        tenant_id, agent_id, execution_id, status, duration_ms, input_tokens, output_tokens,
        cost_usd, session_id, (started_at at time zone 'UTC')::date as execution_date
    from raw.executions
    where started_at >= %(start)s and started_at < %(end)s
),

-- an execution's actions start on its day or the next
actions as (
    select
        tenant_id,
        execution_id,
        count(*) filter (where action_type != 'error') as action_count,
        count(*) filter (where action_type = 'tool_call') as tool_call_count,
        count(*) filter (where action_type = 'tool_call' and status != 'success')
            as failed_tool_call_count,
        count(*) filter (where action_type = 'human_intervention') as human_intervention_count
    from raw.actions
    where started_at >= %(start)s and started_at < %(lookahead)s
    group by tenant_id, execution_id
)

select
    e.tenant_id,
    e.agent_id,
    e.execution_date,
    count(*) as execution_count,
    count(*) filter (where e.status = 'success') as success_count,
    count(*) filter (where e.status in ('failure', 'timeout')) as failure_count,
    count(*) filter (where e.status = 'success')::float8
    / nullif(count(*) filter (where e.status in ('success', 'failure', 'timeout')), 0)
        as success_rate,
    percentile_cont(array[0.5, 0.9, 0.95, 0.99]) within group (order by e.duration_ms)
        as latency_percentiles_ms,
    avg(e.duration_ms::numeric)::float8 as latency_mean_ms,
    sum(e.input_tokens) as input_tokens,
    sum(e.output_tokens) as output_tokens,
    sum(e.cost_usd) as cost_usd,
    sum(e.cost_usd) / count(*) as cost_per_execution_usd,
    coalesce(sum(a.action_count), 0) as action_count,
    coalesce(sum(a.tool_call_count), 0) as tool_call_count,
    coalesce(sum(a.failed_tool_call_count), 0) as failed_tool_call_count,
    count(*) filter (where a.human_intervention_count > 0) as human_intervened_execution_count,
    count(distinct e.session_id) as session_count
from executions as e
left join actions as a on a.tenant_id = e.tenant_id and a.execution_id = e.execution_id
group by e.tenant_id, e.agent_id, e.execution_date
"""


def _spec(executions: int, seed: int) -> FleetSpec:
    """A one-day fleet whose size is as close to `executions` as the traffic model allows."""
    first = default_fleet(seed=seed, days=1, executions_per_day=executions, end_day=DAY)
    scaled = round(executions * executions / max(1, expected_executions(first)))
    return default_fleet(seed=seed, days=1, executions_per_day=scaled, end_day=DAY)


def _analyze_partitions(conn: psycopg.Connection) -> None:
    """What autovacuum does to freshly loaded partitions soon after (never to the parents)."""
    suffix = DAY.strftime("%Y%m%d")
    for table in ("executions", "actions"):
        conn.execute(f"analyze raw.{table}_{suffix}")


def _floor_seconds(conn: psycopg.Connection) -> tuple[float, int]:
    start = datetime.combine(DAY, datetime.min.time(), UTC)
    bounds = {
        "start": start,
        "end": start + timedelta(days=1),
        "lookahead": start + timedelta(days=2),
    }
    with conn.transaction():
        # the session settings of the dbt models (dbt_project.yml vars, session_settings.sql)
        conn.execute("set local work_mem = '256MB'")
        conn.execute("set local max_parallel_workers_per_gather = 0")
        began = time.perf_counter()
        rows = conn.execute(FLOOR_SQL, bounds).fetchall()
        seconds = time.perf_counter() - began
    return seconds, len(rows)


def _step_seconds(instance: dg.DagsterInstance, run_id: str, step: str) -> float:
    logs = instance.all_logs(run_id)
    times = {
        log.dagster_event.event_type: log.timestamp
        for log in logs
        if log.dagster_event is not None and log.dagster_event.step_key == step
    }
    return times[dg.DagsterEventType.STEP_SUCCESS] - times[dg.DagsterEventType.STEP_START]


def _slowest_nodes(since: float, count: int = 8) -> list[str]:
    """The slowest nodes of the dbt invocation that wrote run_results.json after `since`."""
    results = [
        path
        for path in (DBT_PROJECT_DIR / "target").glob("*/run_results.json")
        if path.stat().st_mtime >= since
    ]
    if not results:
        return []
    latest = max(results, key=lambda path: path.stat().st_mtime)
    nodes = json.loads(Path(latest).read_text())["results"]
    nodes.sort(key=lambda node: node["execution_time"], reverse=True)
    return [f"{node['execution_time']:6.2f} s  {node['unique_id']}" for node in nodes[:count]]


def warehouse_resources(url: str) -> dict[str, Any]:
    """Every resource the warehouse asset asks for, on the scratch database at `url`."""
    return {"dbt": dbt_resource(url), "postgres": WarehouseDatabase(url=url)}


def run(executions: int, seed: int) -> dict[str, Any]:
    settings = load_settings()
    if not settings.uses_embedded_postgres:
        raise MetaAgentError(
            "bench.warehouse runs on the embedded PostgreSQL: unset METAAGENT_DATABASE_URL"
        )
    servers = EmbeddedServers(settings.home)
    servers.up(redis=False)
    spec = _spec(executions, seed)
    with scratch_database(servers) as url, psycopg.connect(url, autocommit=True) as conn:
        tenant_id = tenants.create_tenant(conn, "bench")
        report = load_fleet(conn, tenant_id=tenant_id, spec=spec)
        print(
            f"loaded {report.executions:,} executions and {report.actions:,} actions of {DAY}"
            f" in {report.seconds:.1f} s",
            file=sys.stderr,
        )
        _analyze_partitions(conn)

        floor_seconds, groups = _floor_seconds(conn)
        print(f"SQL floor: {groups} agent-days in {floor_seconds:.2f} s", file=sys.stderr)

        instance = dg.DagsterInstance.ephemeral()
        began_at = time.time()
        began = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # dbt's log lines
            result = dg.materialize(
                [warehouse_models],
                partition_key=DAY.isoformat(),
                resources=warehouse_resources(url),
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        total_seconds = time.perf_counter() - began
        dbt_seconds = _step_seconds(instance, result.run_id, warehouse_models.op.name)
        marts = conn.execute(
            "select count(*) from marts.agent_daily_metrics where execution_date = %s", (DAY,)
        ).fetchone()
        assert marts == (groups,), f"agent_daily_metrics has {marts} rows, the floor {groups}"
        print(f"Dagster: {total_seconds:.2f} s, of which dbt {dbt_seconds:.2f} s", file=sys.stderr)
        for line in _slowest_nodes(began_at):
            print(f"  {line}", file=sys.stderr)
    return {
        "executions": report.executions,
        "actions": report.actions,
        "seconds_total": round(total_seconds, 2),
        "seconds_dbt": round(dbt_seconds, 2),
        "seconds_sql_floor": round(floor_seconds, 2),
        "ratio": round(dbt_seconds / floor_seconds, 2),
        "goal_seconds_total": 30 if executions <= 1_000_000 else 90,
        "goal_ratio": 3,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.warehouse", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line (always printed)"
    )
    args = parser.parse_args(argv)
    print_result(run(args.executions, args.seed), as_json=args.json)


if __name__ == "__main__":
    main()
