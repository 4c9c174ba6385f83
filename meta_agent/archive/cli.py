"""`python -m meta_agent archive`: SQL over the Parquet archive, and retention on demand.

Failures the operator can act on are raised as `MetaAgentError` (ArchiveError), which the main
CLI prints as one line with exit status 1.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from meta_agent.settings import get_settings

# DuckDB, pyarrow and the server connections load when a command runs, not with the CLI
if TYPE_CHECKING:
    from meta_agent.archive.report import RetentionReport

archive_app = typer.Typer(
    help="The Parquet archive of raw logs past retention.", no_args_is_help=True
)
console = Console(highlight=False)

ArchiveDir = Annotated[
    Path | None, typer.Option(help="Archive root. Default: METAAGENT_ARCHIVE_DIR.")
]


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact; a float would round costs
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


@archive_app.command()
def query(
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over the views executions and actions.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the rows as a JSON array.")
    ] = False,
    archive_dir: ArchiveDir = None,
) -> None:
    """Run SQL over the archive with DuckDB (views: executions, actions; `date` is the day)."""
    from meta_agent.archive.query import run_query

    root = archive_dir or get_settings().archive_dir
    columns, rows = run_query(root, sql)
    if as_json:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        typer.echo(json.dumps(records, default=_json_value, ensure_ascii=False))
        return
    table = Table(*(escape(c) for c in columns))
    for row in rows:  # Text: a value like "[1, 2]" is data, not rich markup
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    # as wide as the rows need: ids and timestamps are not to be wrapped or cut
    width = Measurement.get(console, console.options.update(max_width=100_000), table).maximum
    Console(highlight=False, width=max(width, console.width)).print(table)
    console.print(f"{len(rows)} row{'' if len(rows) == 1 else 's'}")


@archive_app.command()
def run(
    today: Annotated[
        str | None, typer.Option(help="Treat this UTC day (YYYY-MM-DD) as today. Default: today.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    archive_dir: ArchiveDir = None,
) -> None:
    """Archive every tenant's expired raw days now, verify the files, drop the rows."""
    from meta_agent import migrations
    from meta_agent.archive.files import ArchiveError
    from meta_agent.archive.retention import run_retention
    from meta_agent.connections import resolve_urls

    try:
        day = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.UTC).date()
    except ValueError:
        raise ArchiveError(f"--today is YYYY-MM-DD, not {today!r}") from None
    settings = get_settings()
    urls = resolve_urls(settings, need_redis=False)
    waiting = migrations.pending(urls.database_url)
    if waiting:
        raise ArchiveError(
            f"the database lacks {len(waiting)} migration(s): run `python -m meta_agent migrate`"
        )
    report = run_retention(urls.database_url, archive_dir or settings.archive_dir, today=day)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        _print_report(report)
    if report.errors:
        raise ArchiveError(f"{len(report.errors)} day(s) could not be archived; see above")


def _print_report(report: RetentionReport) -> None:
    console.print(f"archive {report.archive_root}  today {report.today}")
    if not report.days:
        console.print("nothing past retention: nothing to do")
    table = Table(
        "table", "day", "tenants archived", "rows", "files written", "postgres", "tenants kept"
    )
    for day in report.days:
        table.add_row(
            day.table, day.day.isoformat(), str(len(day.files)), str(day.rows),
            str(sum(f.written for f in day.files)), day.outcome.replace("_", " "),
            str(day.tenants_kept),
        )  # fmt: skip
    if report.days:
        console.print(table)
    for error in report.errors:
        console.print(f"[red]error[/red] {escape(error)}")
