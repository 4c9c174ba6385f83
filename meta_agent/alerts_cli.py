"""`python -m meta_agent alerts …`: the tenant's alerts from a terminal, and an operator's
acknowledgement or resolution (the API's `/v1/alerts`).

Acknowledging and resolving go through the alert engine as the API's do: recorded with the
operator (`cli:<login>`) and time, and notified to the channels that heard of the alert.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import json
import uuid
from typing import Annotated, Any, get_args

import psycopg
import typer
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

from meta_agent import tenants
from meta_agent.connections import resolve_urls
from meta_agent.errors import MetaAgentError
from meta_agent.models.alerting import AlertStatus
from meta_agent.settings import get_settings

alerts_app = typer.Typer(help="Alerts: list, show, acknowledge, resolve.", no_args_is_help=True)
console = Console(highlight=False, markup=False)  # titles and errors are shown as they are

TenantOption = Annotated[str, typer.Option(help="Tenant name or id.")]
AlertArgument = Annotated[str, typer.Argument(help="Alert id.")]

_COLUMNS = (
    "a.alert_id, a.status, a.severity, a.alert_type, g.name as agent_name, a.title,"
    " a.occurrence_count, a.suppressed_count, a.first_seen_at, a.last_seen_at, a.notified_at,"
    " a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.auto_resolved,"
    " a.seconds_to_acknowledge, a.seconds_to_resolve"
)
_FROM = " from alerts a left join agents g using (tenant_id, agent_id)"


def _owner_connection() -> psycopg.Connection[dict[str, Any]]:
    urls = resolve_urls(get_settings(), need_redis=False)  # alerts live in Postgres only
    return psycopg.connect(urls.database_url, row_factory=dict_row, autocommit=True)


def _alert_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise MetaAgentError(f"{value!r} is not an alert id") from None


@alerts_app.command("list")
def list_alerts(
    tenant: TenantOption,
    status: Annotated[
        list[str] | None, typer.Option(help="open, acknowledged or resolved (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per alert.")] = False,
) -> None:
    """The tenant's alerts, newest first (unresolved ones unless --status says otherwise)."""
    statuses = status or ["open", "acknowledged"]
    unknown = set(statuses) - set(get_args(AlertStatus))
    if unknown:
        raise MetaAgentError(f"unknown status {sorted(unknown)}: open, acknowledged, resolved")
    with _owner_connection() as conn:
        tenant_id = tenants.find_tenant(conn, tenant)
        rows = conn.execute(
            f"select {_COLUMNS}{_FROM} where a.tenant_id = %s and a.status = any(%s)"
            " order by a.first_seen_at desc, a.alert_id desc limit %s",
            (tenant_id, statuses, limit),
        ).fetchall()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = Table("id", "status", "severity", "type", "agent", "title", "count", "first seen")
    for row in rows:
        table.add_row(
            str(row["alert_id"]), row["status"], row["severity"], row["alert_type"],
            row["agent_name"] or "", row["title"], str(row["occurrence_count"]),
            f"{row['first_seen_at']:%Y-%m-%d %H:%M:%S}",
        )  # fmt: skip
    console.print(table)


@alerts_app.command("show")
def show(tenant: TenantOption, alert: AlertArgument) -> None:
    """One alert, with its deliveries."""
    alert_id = _alert_id(alert)
    with _owner_connection() as conn:
        tenant_id = tenants.find_tenant(conn, tenant)
        row = conn.execute(
            f"select {_COLUMNS}, a.summary{_FROM} where a.tenant_id = %s and a.alert_id = %s",
            (tenant_id, alert_id),
        ).fetchone()
        if row is None:
            raise MetaAgentError(f"the tenant has no alert {alert}")
        deliveries = conn.execute(
            "select c.name, c.kind, d.state_change, d.status, d.attempts, d.last_error"
            " from alert_deliveries d join notification_channels c"
            " using (tenant_id, notification_channel_id)"
            " where d.tenant_id = %s and d.alert_id = %s order by d.created_at",
            (tenant_id, alert_id),
        ).fetchall()
    console.print(f"{row['title']}  [{row['severity']}, {row['status']}]")
    console.print(f"  {row['alert_type']} · agent {row['agent_name'] or '-'}")
    if row["summary"]:
        console.print(f"  {row['summary']}")
    console.print(
        f"  first seen {row['first_seen_at']:%Y-%m-%d %H:%M:%S},"
        f" last {row['last_seen_at']:%H:%M:%S}, {row['occurrence_count']} firings,"
        f" {row['suppressed_count']} suppressed"
    )
    if row["acknowledged_at"]:
        console.print(
            f"  acknowledged by {row['acknowledged_by']}"
            f" after {row['seconds_to_acknowledge']:.0f} s"
        )
    if row["resolved_at"]:
        by = "automatically" if row["auto_resolved"] else f"by {row['resolved_by']}"
        console.print(f"  resolved {by} after {row['seconds_to_resolve']:.0f} s")
    for d in deliveries:
        error = f"  ({d['last_error']})" if d["last_error"] else ""
        console.print(
            f"  → {d['name']} ({d['kind']}): {d['state_change']} {d['status']},"
            f" {d['attempts']} attempts{error}"
        )


async def _act(tenant_id: uuid.UUID, alert_id: uuid.UUID, action: str) -> int:
    from meta_agent.alerting.engine import AlertEngine
    from meta_agent.db import Database

    urls = resolve_urls(get_settings(), need_redis=False)  # alerts live in Postgres only
    async with Database(urls.app_database_url, max_size=2) as db:
        engine = AlertEngine(db)
        change = engine.acknowledge if action == "acknowledge" else engine.resolve
        outcome = await change(
            tenant_id, alert_id, by=f"cli:{getpass.getuser()}", at=dt.datetime.now(dt.UTC)
        )
    return outcome.queued


def _change(tenant: str, alert: str, action: str) -> None:
    from meta_agent.alerting.engine import AlertNotFound, AlertStateConflict

    alert_id = _alert_id(alert)
    with _owner_connection() as conn:
        tenant_id = tenants.find_tenant(conn, tenant)
    try:
        queued = asyncio.run(_act(tenant_id, alert_id, action))
    except AlertNotFound:
        raise MetaAgentError(f"the tenant has no alert {alert}") from None
    except AlertStateConflict as exc:
        raise MetaAgentError(str(exc)) from None
    done = "acknowledged" if action == "acknowledge" else "resolved"
    console.print(f"alert {alert_id} {done}; {queued} notifications queued")


@alerts_app.command("ack")
def ack(tenant: TenantOption, alert: AlertArgument) -> None:
    """Acknowledge an open alert: no more reminders; its channels hear who took it."""
    _change(tenant, alert, "acknowledge")


@alerts_app.command("resolve")
def resolve(tenant: TenantOption, alert: AlertArgument) -> None:
    """Resolve an alert; the next firing of its condition opens a new one."""
    _change(tenant, alert, "resolve")
