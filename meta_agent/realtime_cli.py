"""`python -m meta_agent health` and `… circuit`: the realtime state of agents from a terminal,
and the operator's breaker overrides (the API's `/v1/agents/{id}/health` and `…/circuit`).

Overrides go through the same atomic Redis script as the API and the worker, are recorded in
Postgres with the operator (`cli:<login>`) and reason, and are published on the tenant's
channel, so dashboards and SDKs see them within a second.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import json
import time
import uuid
from dataclasses import asdict
from typing import Annotated, Any

import psycopg
import typer
from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

from meta_agent import tenants
from meta_agent.connections import resolve_urls
from meta_agent.errors import MetaAgentError
from meta_agent.settings import get_settings

health_app = typer.Typer(help="Agents' realtime health.", no_args_is_help=False)
circuit_app = typer.Typer(help="Agents' circuit breakers: show, override.", no_args_is_help=True)
console = Console(highlight=False)

# the realtime worker refreshes each active agent's row every 10 s; older than this is stale
STALE_AFTER_S = 60

TenantOption = Annotated[str, typer.Option(help="Tenant name or id.")]
AgentArgument = Annotated[str, typer.Argument(help="Agent name or id.")]
ReasonOption = Annotated[str, typer.Option(help="Why; recorded with the change.")]


def _owner_connection() -> psycopg.Connection[dict[str, Any]]:
    urls = resolve_urls(get_settings())
    return psycopg.connect(urls.database_url, row_factory=dict_row, autocommit=True)


def _agent(conn: psycopg.Connection[dict[str, Any]], tenant_id: uuid.UUID, agent: str) -> Any:
    row = conn.execute(
        "select agent_id, name from agents where tenant_id = %s"
        " and (name = %s or agent_id::text = %s)",
        (tenant_id, agent, agent),
    ).fetchone()
    if row is None:
        raise MetaAgentError(f"the tenant has no agent {agent!r}")
    return row


@health_app.callback(invoke_without_command=True)
def health(
    tenant: TenantOption,
    agent: Annotated[str | None, typer.Option(help="One agent (name or id).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per agent.")] = False,
) -> None:
    """Each agent's health (unknown when the realtime worker has not judged it lately)."""
    with _owner_connection() as conn:
        tenant_id = tenants.find_tenant(conn, tenant)
        agent_id = _agent(conn, tenant_id, agent)["agent_id"] if agent else None
        rows = conn.execute(
            "select a.name, a.agent_id, h.state, h.state_since, h.evaluated_at, h.reason,"
            " h.executions_5m, h.error_rate_5m, h.latency_p95_ms_5m, h.executions_1h,"
            " h.error_rate_1h, coalesce(c.state, 'closed') as circuit"
            " from agents a"
            " left join agent_health_realtime h using (tenant_id, agent_id)"
            " left join circuit_breaker_states c using (tenant_id, agent_id)"
            " where a.tenant_id = %s and (%s::uuid is null or a.agent_id = %s::uuid)"
            " and a.status <> 'archived' order by a.name",
            (tenant_id, agent_id, agent_id),
        ).fetchall()
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        fresh = row["evaluated_at"] and (now - row["evaluated_at"]).total_seconds() < STALE_AFTER_S
        row["stale"] = row["state"] is not None and not fresh
        row["state"] = row["state"] if fresh else "unknown"
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = Table("agent", "health", "since", "5 min: runs", "error rate", "p95 ms", "circuit")
    for row in rows:
        rate = row["error_rate_5m"]
        p95 = row["latency_p95_ms_5m"]
        table.add_row(
            row["name"],
            row["state"] + (" (stale)" if row["stale"] else ""),
            row["state_since"].strftime("%H:%M:%S") if row["state_since"] else "",
            str(row["executions_5m"] or 0),
            f"{rate:.1%}" if rate is not None else "",
            f"{p95:.0f}" if p95 is not None else "",
            row["circuit"],
        )
    console.print(table)


async def _change(tenant_id: uuid.UUID, agent_id: uuid.UUID, action: str, reason: str) -> str:
    import redis.asyncio as aioredis

    from meta_agent.breaker import (
        BreakerKey,
        RedisBreakerStore,
        State,
        load_config,
        persist_transitions,
    )
    from meta_agent.db import Database
    from meta_agent.events import publish_breaker

    urls = resolve_urls(get_settings(), need_redis=True)
    key = BreakerKey(tenant_id, agent_id)
    actor = f"cli:{getpass.getuser()}"
    now = time.time_ns() // 1_000_000
    async with Database(urls.app_database_url, max_size=2) as db:
        client = aioredis.Redis.from_url(urls.redis_url)
        try:
            store = RedisBreakerStore(client)
            config = await load_config(db, key)
            if action == "reset":
                transitions = await store.reset(key, config, actor, reason, now)
            else:
                target = State.FORCED_OPEN if action == "force-open" else State.FORCED_CLOSED
                transitions = await store.force(key, config, target, actor, reason, now)
            await persist_transitions(db, key, transitions)
            await publish_breaker(client, key, transitions)
            return (await store.load(key)).state.value
        finally:
            await client.aclose()


def _override(tenant: str, agent: str, action: str, reason: str) -> None:
    if not reason.strip():
        raise MetaAgentError("--reason is required: it is recorded with the change")
    with _owner_connection() as conn:
        tenant_id = tenants.find_tenant(conn, tenant)
        row = _agent(conn, tenant_id, agent)
    try:
        state = asyncio.run(_change(tenant_id, row["agent_id"], action, reason))
    except ValueError as exc:  # the breaker's own checks (reason length and the like)
        raise MetaAgentError(str(exc)) from None
    console.print(f"{row['name']}: circuit {state}")


@circuit_app.command("force-open")
def force_open(tenant: TenantOption, agent: AgentArgument, reason: ReasonOption = "") -> None:
    """Hold an agent's breaker open (its SDK refuses executions) until a reset."""
    _override(tenant, agent, "force-open", reason)


@circuit_app.command("force-closed")
def force_closed(tenant: TenantOption, agent: AgentArgument, reason: ReasonOption = "") -> None:
    """Hold an agent's breaker closed (failures do not open it) until a reset."""
    _override(tenant, agent, "force-closed", reason)


@circuit_app.command("reset")
def reset(tenant: TenantOption, agent: AgentArgument, reason: ReasonOption = "") -> None:
    """Back to closed, with an empty window and no backoff."""
    _override(tenant, agent, "reset", reason)


@circuit_app.command("show")
def show(
    tenant: TenantOption,
    agent: AgentArgument,
    events: Annotated[int, typer.Option(min=0, max=1000, help="Recent events to list.")] = 10,
) -> None:
    """An agent's breaker: its recorded state, configuration and latest events."""
    from meta_agent.breaker import BreakerConfig, BreakerConfigError

    with _owner_connection() as conn:
        tenant_id = tenants.find_tenant(conn, tenant)
        row = _agent(conn, tenant_id, agent)
        state = conn.execute(
            "select * from circuit_breaker_states where tenant_id = %s and agent_id = %s",
            (tenant_id, row["agent_id"]),
        ).fetchone()
        config_row = conn.execute(
            "select * from circuit_breaker_configs where tenant_id = %s and agent_id = %s",
            (tenant_id, row["agent_id"]),
        ).fetchone()
        recent = conn.execute(
            "select occurred_at, from_state, to_state, cause, actor, reason"
            " from circuit_breaker_events where tenant_id = %s and agent_id = %s"
            " order by version desc limit %s",
            (tenant_id, row["agent_id"], events),
        ).fetchall()
    try:
        config = BreakerConfig.from_row(config_row)
    except BreakerConfigError as exc:
        raise MetaAgentError(str(exc)) from None
    current = state["state"] if state else "closed"
    console.print(f"{row['name']}: circuit {current}")
    if state and state["open_until"]:
        console.print(f"  open until {state['open_until'].isoformat()}")
    if state and state["forced_by"]:
        console.print(f"  forced by {state['forced_by']}: {state['forced_reason']}")
    settings = ", ".join(f"{k}={v}" for k, v in asdict(config).items())
    console.print(f"  config ({'default' if config_row is None else 'own'}): {settings}")
    for e in recent:
        console.print(
            f"  {e['occurred_at']:%Y-%m-%d %H:%M:%S}  {e['from_state']} -> {e['to_state']}"
            f"  ({e['cause']}, {e['actor']}) {e['reason']}"
        )
