"""`python -m meta_agent`: every operator command, each a one-line description in --help.

Failures the operator can act on (`MetaAgentError`) print one line on stderr and exit 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Annotated

import psycopg
import typer
from rich.console import Console

from meta_agent import embedded, migrations, tenants
from meta_agent.alerts_cli import alerts_app
from meta_agent.archive.cli import archive_app
from meta_agent.connections import ServerUrls, describe, resolve_urls
from meta_agent.errors import MetaAgentError
from meta_agent.realtime_cli import circuit_app, health_app
from meta_agent.settings import Settings, get_settings

if TYPE_CHECKING:
    from dagster_project.cycle import CycleReport

app = typer.Typer(
    name="meta_agent",
    help="MetaAgent: watch a fleet of AI agents, stop failing ones, make them better safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tenant_app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
key_app = typer.Typer(help="Issue API keys.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
app.add_typer(archive_app, name="archive")
app.add_typer(health_app, name="health")
app.add_typer(circuit_app, name="circuit")
app.add_typer(alerts_app, name="alerts")
console = Console(stderr=False, highlight=False)


def _settings() -> Settings:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    return settings


def _urls(settings: Settings, *, need_redis: bool = False) -> ServerUrls:
    return resolve_urls(settings, need_redis=need_redis)


def _require_migrated(urls: ServerUrls) -> None:
    waiting = migrations.pending(urls.database_url)
    if waiting:
        raise MetaAgentError(
            f"the database lacks {len(waiting)} migration(s): run `python -m meta_agent migrate`"
        )


@app.command()
def up() -> None:
    """Start the embedded PostgreSQL and Redis (or check the configured ones) and print URLs."""
    settings = _settings()
    urls = _urls(settings, need_redis=True)
    console.print(
        f"postgres  {urls.database_url if settings.uses_embedded_postgres else 'configured'}"
    )
    console.print(f"redis     {urls.redis_url if settings.uses_embedded_redis else 'configured'}")


@app.command()
def down() -> None:
    """Stop the embedded servers of this home."""
    settings = _settings()
    stopped = embedded.EmbeddedServers(settings.home).down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status() -> None:
    """Tell which embedded servers run for this home, and whether configured URLs are used."""
    settings = _settings()
    for server in embedded.EmbeddedServers(settings.home).status():
        configured = (server.name == "postgres" and not settings.uses_embedded_postgres) or (
            server.name == "redis" and not settings.uses_embedded_redis
        )
        if configured:
            console.print(f"{server.name:9} configured by METAAGENT_{server.name.upper()}_URL")
        elif server.running:
            console.print(f"{server.name:9} running  pid {server.pid}  {server.url}")
        else:
            console.print(f"{server.name:9} stopped")


@app.command()
def migrate() -> None:
    """Apply pending SQL migrations as the owner role."""
    settings = _settings()
    urls = _urls(settings)
    password = settings.app_database_password
    applied = migrations.migrate(
        urls.database_url,
        app_password=password.get_secret_value() if password else None,
        on_applied=lambda m: console.print(f"applied {m.path.name}"),
    )
    if not applied:
        console.print("database is up to date")


@tenant_app.command("create")
def tenant_create(name: Annotated[str, typer.Argument(help="Unique tenant name.")]) -> None:
    """Create a tenant and print its id."""
    urls = _urls(_settings())
    with psycopg.connect(urls.database_url) as conn:
        typer.echo(str(tenants.create_tenant(conn, name)))


@tenant_app.command("list")
def tenant_list() -> None:
    """List tenants."""
    urls = _urls(_settings())
    with psycopg.connect(urls.database_url) as conn:
        for tenant_id, name in conn.execute("select tenant_id, name from tenants order by name"):
            console.print(f"{tenant_id}  {name}")


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="Tenant name or id.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: ingest,read,write,admin.")] = "read",
    name: Annotated[str, typer.Option(help="A label to tell keys apart.")] = "cli",
) -> None:
    """Issue an API key for a tenant; the key is printed once and never stored."""
    urls = _urls(_settings())
    with psycopg.connect(urls.database_url) as conn:
        tenant_id = tenants.find_tenant(conn, tenant)
        issued = tenants.create_api_key(
            conn, tenant_id, scopes=scopes.split(","), name=name, created_by="cli"
        )
    typer.echo(issued.key)


@app.command()
def simulate(
    tenant: Annotated[str, typer.Option(help="Tenant name or id to load into.")] = "demo",
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history.")] = 14,
    executions_per_day: Annotated[
        int, typer.Option(min=1, max=10_000_000, help="Executions per day, whole fleet.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed loads the same fleet.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Bulk-load a simulated fleet history (with labelled faults) into the raw tables."""
    from meta_agent.demo import load_simulated_fleet

    urls = _urls(_settings())
    with psycopg.connect(urls.database_url) as conn:
        tenant_id = tenants.find_tenant(conn, tenant)
    report = load_simulated_fleet(
        urls.database_url, tenant_id, days=days, executions_per_day=executions_per_day, seed=seed
    )
    if as_json:
        console.print(json.dumps(report))


@app.command()
def demo(
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of history.")] = 14,
    executions_per_day: Annotated[int, typer.Option(min=100, max=1_000_000)] = 20_000,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Run the demo: servers, migrations, a demo tenant and key, a simulated fleet, a summary."""
    from meta_agent.demo import run_demo

    settings = _settings()
    run_demo(settings, _urls(settings, need_redis=True), days=days,
             executions_per_day=executions_per_day, seed=seed)  # fmt: skip


def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise MetaAgentError(f"{option} takes a date as YYYY-MM-DD, got {text!r}") from None


def _print_cycle(report: CycleReport) -> None:
    from dagster_project.cycle import summary_lines

    for line in summary_lines(report):
        console.print(line, soft_wrap=True)
    if not report.success or report.failed_checks:
        raise MetaAgentError(f"run {report.run_id} failed; see the Dagster output above")


@app.command()
def aggregate(
    date: Annotated[str | None, typer.Option("--date", help="One UTC day, YYYY-MM-DD.")] = None,
    first: Annotated[str | None, typer.Option("--from", help="First day of a range.")] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last day of a range (included).")
    ] = None,
) -> None:
    """Re-aggregate days through Dagster and dbt: the days' marts are replaced, nothing else."""
    from dagster_project.cycle import run_window
    from dagster_project.instance import open_instance
    from dagster_project.warehouse.definitions import definitions
    from dagster_project.warehouse.schedules import warehouse_daily_job

    if date is not None and first is None and last is None:
        start = end = _day(date, "--date")
    elif date is None and first is not None and last is not None:
        start, end = _day(first, "--from"), _day(last, "--to")
        if end < start:
            raise MetaAgentError(f"--to {last} is before --from {first}")
    else:
        raise MetaAgentError("give --date D, or --from D1 --to D2")
    settings = _settings()
    urls = _urls(settings)
    _require_migrated(urls)
    job = definitions(urls.database_url).resolve_job_def(warehouse_daily_job.name)
    instance = open_instance(settings.home, urls.database_url)
    # a range is one run over one window, as a backfill from the UI is
    _print_cycle(run_window(job, start, end, instance=instance))


@app.command("full-cycle")
def full_cycle(
    date: Annotated[
        str | None, typer.Option("--date", help="The UTC day, YYYY-MM-DD; default: yesterday.")
    ] = None,
) -> None:
    """Materialise every Dagster asset for one UTC day in-process, and print what each did."""
    from dagster_project.cycle import run_cycle
    from dagster_project.definitions import definitions_for
    from dagster_project.instance import open_instance

    day = _day(date, "--date") if date else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    settings = _settings()
    urls = _urls(settings)
    _require_migrated(urls)
    instance = open_instance(settings.home, urls.database_url)
    _print_cycle(run_cycle(definitions_for(urls.database_url), day, instance=instance))


@app.command()
def dagster(
    host: Annotated[str, typer.Option(help="Where the webserver listens.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The webserver's port.")] = 3000,
) -> None:
    """Serve the Dagster UI and run its daemon (schedules, sensors, backfills) until interrupted."""
    import os
    import signal
    import threading

    from dagster_project.instance import (
        dagster_database_url,
        dagster_home,
        open_instance,
        prepare_dagster_home,
    )
    from dagster_project.processes import DagsterProcesses

    settings = _settings()
    urls = _urls(settings)
    _require_migrated(urls)
    # Dagster's tables are created here, once, before two processes could race to create them
    open_instance(settings.home, urls.database_url).dispose()
    environment = {
        **os.environ,
        **prepare_dagster_home(settings.home, urls.database_url),
        # the code location reads the same settings, whatever directory it runs in
        "METAAGENT_HOME": str(settings.home),
    }
    processes = DagsterProcesses(environment, host, port, log_dir=settings.home)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    console.print(
        f"starting the Dagster webserver and daemon (DAGSTER_HOME {dagster_home(settings.home)},"
        f" storage {describe(dagster_database_url(urls.database_url))}; logs in {settings.home})",
        soft_wrap=True,
    )
    processes.serve(
        stop, on_ready=lambda: console.print(f"Dagster UI on {processes.url}  (Ctrl-C stops it)")
    )
    console.print("stopped the Dagster webserver and daemon")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Default: METAAGENT_API_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: METAAGENT_API_PORT.")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes; about one per core in production.")
    ] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) until interrupted."""
    import uvicorn

    settings = _settings()
    urls = _urls(settings, need_redis=True)
    _require_migrated(urls)
    host, port = host or settings.api_host, port or settings.api_port
    console.print(f"MetaAgent API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    # in-flight requests get up to 10 s to finish on SIGTERM before the pool closes
    options = {"host": host, "port": port, "log_level": settings.log_level.lower(),
               "timeout_graceful_shutdown": 10}  # fmt: skip
    if workers == 1:
        from api.app import create_app

        uvicorn.run(create_app(settings, urls), **options)  # type: ignore[arg-type]
        return
    # Worker processes build their own app from the environment: hand them the servers this
    # process resolved (embedded ones included), so none of them starts servers of its own.
    os.environ.update(
        METAAGENT_DATABASE_URL=urls.database_url,
        METAAGENT_APP_DATABASE_URL=urls.app_database_url,
        METAAGENT_REDIS_URL=urls.redis_url,
    )
    uvicorn.run("api.app:create_app_from_environment", factory=True, workers=workers, **options)  # type: ignore[arg-type]


def main() -> None:
    try:
        app()
    except MetaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
