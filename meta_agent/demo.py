"""`make demo`: real servers, migrations, a demo tenant and key, a simulated fleet, the daily
warehouse cycle over it, a summary with the SLA breaches it found.

Everything here goes through the same code a production deployment uses; the demo only
chooses the inputs. Running it again reuses the tenant and loads only the days not yet loaded.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import uuid
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import psycopg
import redis
from meta_agent_sdk import AgentLogger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from meta_agent import migrations, tenants
from meta_agent.api_process import ApiProcess, RealtimeProcess
from meta_agent.connections import ServerUrls, describe
from meta_agent.errors import MetaAgentError
from meta_agent.settings import Settings
from meta_agent.simulate import (
    FleetSpec,
    default_fleet,
    expected_executions,
    load_fleet,
    planned_faults,
)
from meta_agent.simulate.alert_sink import (
    demo_alert_sink,
    describe_received,
    wait_for_resolution,
)
from meta_agent.simulate.live import replay_live
from meta_agent.simulate.outage import run_outage
from meta_agent.simulate.sla import seed_sla_definitions

if TYPE_CHECKING:
    from dagster_project.cycle import CycleReport

DEMO_TENANT = "demo"
# wide enough for the tables even when output is not a terminal (make, CI logs)
console = Console(highlight=False, width=110)


def load_simulated_fleet(
    database_url: str, tenant_id: uuid.UUID, *, days: int, executions_per_day: int, seed: int
) -> dict[str, Any]:
    """Bulk-load a fleet with a progress bar; return the load report as a dict."""
    spec = default_fleet(seed=seed, days=days, executions_per_day=executions_per_day)
    total = expected_executions(spec)
    with (
        Progress(
            TextColumn("loading fleet history"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("executions"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,  # fmt: skip
        psycopg.connect(database_url, autocommit=True) as conn,
    ):
        task = progress.add_task("load", total=total)
        report = load_fleet(
            conn, tenant_id=tenant_id, spec=spec,
            progress=lambda done: progress.update(task, completed=done),
        )  # fmt: skip
    result = asdict(report)
    result["rows_per_second"] = round(report.rows_per_second)
    console.print(
        f"loaded {report.executions:,} executions and {report.actions:,} actions"
        f" in {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s);"
        f" {report.skipped_chunks} agent-days were already loaded"
    )
    return result


def _demo_tenant(conn: psycopg.Connection) -> uuid.UUID:
    try:
        return tenants.find_tenant(conn, DEMO_TENANT)
    except MetaAgentError:
        return tenants.create_tenant(conn, DEMO_TENANT)


def run_warehouse(
    settings: Settings, urls: ServerUrls, tenant_id: uuid.UUID, spec: FleetSpec
) -> CycleReport:
    """The daily cycle over the simulated history, as `meta_agent full-cycle` runs a day:
    every Dagster asset, the days as one window; the tenant gets the fleet's SLAs first."""
    from dagster_project.cycle import run_cycle, summary_lines
    from dagster_project.definitions import definitions_for
    from dagster_project.instance import open_instance

    with psycopg.connect(urls.database_url, autocommit=True) as conn:
        seeded = seed_sla_definitions(conn, tenant_id, spec)
    if seeded:
        console.print(f"SLAs: {seeded} definitions (a fleet default and one per agent)")
    instance = open_instance(settings.home, urls.database_url)
    dbt_output = io.StringIO()
    console.print(
        f"warehouse: the daily cycle for {spec.start_day} to {spec.end_day} (Dagster, dbt)"
    )
    with contextlib.redirect_stdout(dbt_output):  # dbt's log lines; printed if the run fails
        defs = definitions_for(urls.database_url)
        report = run_cycle(defs, spec.start_day, spec.end_day, instance=instance)
    if not report.success or report.failed_checks:
        console.print(dbt_output.getvalue(), markup=False, highlight=False)
        raise MetaAgentError("the warehouse cycle failed: " + "; ".join(summary_lines(report)))
    console.print(summary_lines(report)[-1], soft_wrap=True)
    return report


def _metrics_table(conn: psycopg.Connection, tenant_id: uuid.UUID) -> Table:
    table = Table(title="Fleet history by agent (marts.agent_daily_metrics)", title_justify="left")
    for column in ("agent", "kind", "days", "executions", "success", "p95 latency", "cost"):
        table.add_column(column, justify="left" if column in ("agent", "kind") else "right")
    rows = conn.execute(
        """
        select a.name, a.kind, count(*), sum(m.execution_count),
               sum(m.success_count)::float8 / nullif(sum(m.decided_execution_count), 0),
               -- an exact p95 over the history needs the raw rows; the worst day says more
               max(m.latency_p95_ms), sum(m.cost_usd)
        from marts.agent_daily_metrics m join agents a using (tenant_id, agent_id)
        where m.tenant_id = %s
        group by a.name, a.kind order by a.name
        """,
        (tenant_id,),
    ).fetchall()
    for name, kind, days, executions, success, p95, cost in rows:
        table.add_row(
            name, kind, f"{days}", f"{executions:,}", f"{success:.2%}",
            f"{p95 / 1000:,.1f} s (worst day)", f"${cost:,.2f}",
        )  # fmt: skip
    return table


def _breach_table(conn: psycopg.Connection, tenant_id: uuid.UUID) -> Table:
    table = Table(
        title="SLA breaches found (marts.sla_daily_compliance; budget: error budget consumed)",
        title_justify="left",
    )
    for column in ("day", "agent", "breached", "first: measured / target", "budget", "top cause"):
        wraps = column == "breached"  # one metric a line; cost_per_execution is the longest
        table.add_column(
            column,
            justify="right" if column == "budget" else "left",
            no_wrap=not wraps,
            min_width=18 if wraps else None,
        )
    rows = conn.execute(
        """
        select c.execution_date, a.name, replace(c.breached_metrics, ',', ', '),
               case c.primary_breached_metric
                   when 'availability' then format('%%s / %%s',
                       round(c.availability::numeric * 100, 2) || '%%',
                       round(c.target_availability::numeric * 100, 2) || '%%')
                   when 'success_rate' then format('%%s / %%s',
                       round(c.success_rate::numeric * 100, 2) || '%%',
                       round(c.target_success_rate::numeric * 100, 2) || '%%')
                   when 'p95_latency' then format('%%s s / %%s s',
                       round(c.latency_p95_ms::numeric / 1000, 1),
                       round(c.target_p95_latency_ms::numeric / 1000, 1))
                   else format('$%%s / $%%s', round(c.cost_per_execution_usd::numeric, 4),
                       round(c.max_cost_per_execution_usd::numeric, 4))
               end,
               c.error_budget_consumed, c.breach_top_failure_category
        from marts.sla_daily_compliance c join agents a using (tenant_id, agent_id)
        where c.tenant_id = %s and not c.is_compliant
        order by c.execution_date, a.name
        """,
        (tenant_id,),
    ).fetchall()
    for day, agent, breached, measured, consumed, cause in rows:
        budget = "-" if consumed is None else f"{consumed:.0%}"
        table.add_row(f"{day}", agent, breached, measured, budget, cause or "-")
    return table


def _sla_alert_lines(conn: psycopg.Connection, tenant_id: uuid.UUID) -> list[str]:
    """The alerts the daily cycle raised from SLA compliance: one per agent and type, each
    breach day after the first a suppressed repeat rather than another notification."""
    rows = conn.execute(
        "select a.alert_type, g.name, a.severity, a.status, a.occurrence_count"
        " from alerts as a join agents as g using (tenant_id, agent_id)"
        " where a.tenant_id = %s and a.alert_type in ('sla_breached', 'sla_at_risk')"
        " and a.labels ->> 'source' = 'warehouse' order by g.name, a.alert_type",
        (tenant_id,),
    ).fetchall()
    return [
        f"  {kind:13} {agent:18} {severity:9} {status:13} {count} day(s)"
        for kind, agent, severity, status, count in rows
    ]


def _fault_table(conn: psycopg.Connection, tenant_id: uuid.UUID) -> Table:
    table = Table(title="Injected faults (ground truth)", title_justify="left")
    for column in ("fault", "agent", "from (UTC)", "to (UTC)"):
        table.add_column(column)
    rows = conn.execute(
        "select f.fault_kind, a.name, f.started_at, f.ended_at from simulated_faults f"
        " join agents a on a.agent_id = f.agent_id where f.tenant_id = %s order by f.started_at",
        (tenant_id,),
    ).fetchall()
    for kind, agent, start, end in rows:
        table.add_row(kind, agent, f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}")
    return table


def _storage_lines(conn: psycopg.Connection, urls: ServerUrls) -> list[str]:
    row = conn.execute(
        """
        select (select count(*) from pg_inherits i join pg_class c on c.oid = i.inhrelid
                where i.inhparent = 'raw.executions'::regclass),
               pg_size_pretty(pg_database_size(current_database())),
               (select count(*) from tenants), (select count(*) from agents),
               (select count(*) from schema_migrations)
        """
    ).fetchone()
    assert row is not None
    partitions, size, tenant_count, agent_count, applied = row
    info = redis.Redis.from_url(urls.redis_url).info("server")
    return [
        f"PostgreSQL  {describe(urls.database_url)}",
        f"            {applied} migrations, {tenant_count} tenant(s), {agent_count} agents,"
        f" {partitions} daily partitions of raw.executions, {size} on disk",
        f"Redis       {describe(urls.redis_url)}  (redis {info['redis_version']})",
    ]


def _run_live(
    settings: Settings, urls: ServerUrls, key: str, tenant_id: uuid.UUID, *, seed: int
) -> None:
    """The API and a realtime worker as their own processes; a few simulated agents log live
    through the SDK, as real agents do; then one of them lives through an outage."""
    environ = {**os.environ, "METAAGENT_HOME": str(settings.home)}
    api, worker = ApiProcess(environ), RealtimeProcess(environ)
    with (
        psycopg.connect(urls.database_url, autocommit=True) as conn,
        demo_alert_sink(conn, settings, tenant_id) as sink,
    ):
        api.start()
        try:
            worker.start(urls.redis_url)
            _run_live_agents(urls, api.url, key, seed=seed)
            console.rule("realtime: a vendor outage, live")
            began, clock = time.perf_counter(), time.monotonic()
            report = run_outage(api.url, key, urls.redis_url, tenant_id, say=console.print)
            console.print(
                f"outage: {report.ran} executions ran ({report.failed} failed),"
                f" {report.refused} refused by the SDK while the breaker was open; breaker "
                f"{'closed again after its probes' if report.recovered else 'did NOT close'}"
                f" ({time.perf_counter() - began:.1f} s)"
            )
            # the closed breaker clears its alert; the demo policy resolves it 5 s later
            resolved = wait_for_resolution(sink, "circuit_opened", timeout_s=15)
        finally:
            worker.stop()
            api.stop()
        console.rule(f"alerts delivered to the demo's webhook channel ({sink.url})")
        describe_received(sink, clock, console.print)
    if not resolved:
        console.print("the circuit alert's resolution did not arrive within 15 s")
    # health may already be critical from a run minutes ago (its 5-minute window remembers);
    # the breaker starts closed every time, so its round trip is what must be seen
    if not (report.saw("breaker", "open") and report.recovered):
        raise MetaAgentError("the outage did not show as expected: is the realtime worker running?")


def _run_live_agents(urls: ServerUrls, api_url: str, key: str, *, seed: int) -> None:
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as spool:
        spec = default_fleet(seed=seed + 1, days=1, executions_per_day=2_000)
        report = replay_live(
            spec,
            lambda agent: AgentLogger(agent, api_key=key, endpoint=api_url, spool_dir=spool),
            executions_per_agent=50,
        )
    with psycopg.connect(urls.database_url) as conn:
        stored = conn.execute(
            "select count(*) from raw.executions where execution_id = any(%s::uuid[])",
            (sorted(report.executions),),
        ).fetchone()
    console.print(
        f"live: {report.agents} agents logged {len(report.executions)} executions and"
        f" {len(report.actions)} actions through the SDK → {api_url}/v1/ingest → Postgres;"
        f" {stored[0] if stored else 0} executions stored, in {time.perf_counter() - began:.1f} s"
    )


def run_demo(
    settings: Settings, urls: ServerUrls, *, days: int, executions_per_day: int, seed: int
) -> None:
    console.rule("MetaAgent demo")
    where = "embedded" if settings.uses_embedded_postgres else "configured"
    console.print(f"servers: {where} PostgreSQL and Redis (home {settings.home})")
    applied = migrations.migrate(urls.database_url)
    console.print(f"migrations: {len(applied)} applied now, schema up to date")

    with psycopg.connect(urls.database_url, autocommit=True) as conn:
        tenant_id = _demo_tenant(conn)
        issued = tenants.create_api_key(
            conn, tenant_id, scopes=tenants.SCOPES, name="demo", created_by="make demo"
        )
    console.print(f"tenant: {DEMO_TENANT} ({tenant_id})")

    load_simulated_fleet(
        urls.database_url, tenant_id, days=days, executions_per_day=executions_per_day, seed=seed
    )
    spec = default_fleet(seed=seed, days=days, executions_per_day=executions_per_day)
    run_warehouse(settings, urls, tenant_id, spec)
    with psycopg.connect(urls.database_url) as conn:
        console.print(_metrics_table(conn, tenant_id))
        console.print(_fault_table(conn, tenant_id))
        console.print(_breach_table(conn, tenant_id))
        alert_lines = _sla_alert_lines(conn, tenant_id)
        if alert_lines:
            console.print(
                "alerts from the daily SLA compliance (dagster asset alerting/sla_alerts):"
            )
            for line in alert_lines:
                console.print(line)
        for line in _storage_lines(conn, urls):
            console.print(line)
    _run_live(settings, urls, issued.key, tenant_id, seed=seed)
    console.print(
        f"\nground truth: {len(planned_faults(spec))} faults, labelled on each affected execution"
        " as metadata.sim_fault"
    )
    console.rule("next")
    console.print(f"API key for tenant '{DEMO_TENANT}' (all scopes, shown once):")
    console.print(f"  {issued.key}", soft_wrap=True)
    console.print(
        "Serve the API:  .venv/bin/python -m meta_agent api"
        f"  → http://{settings.api_host}:{settings.api_port}/docs"
    )
    console.print(
        f'Try:            curl -H "Authorization: Bearer {issued.key}"'
        f" http://{settings.api_host}:{settings.api_port}/v1/overview",
        soft_wrap=True,
    )
    console.print("Stop servers:   .venv/bin/python -m meta_agent down")
