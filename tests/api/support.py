"""Building blocks for the API tests: tenants with a key per scope, seeded worlds, snapshots.

Tenants and keys are made as the owner role, the way `meta-agent tenant create` makes them.
Executions and actions are written as the owner too (as ingest will), into today's partitions.
Everything else goes through the API itself, so the seed is also a first happy-path test.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql

from meta_agent.tenants import SCOPES, IssuedKey, create_api_key, create_tenant

# The tables the API writes to (and raw logs, which it must never write to outside ingest).
WRITTEN_TABLES = (
    "tenants",
    "api_keys",
    "agents",
    "agent_dependencies",
    "prompt_versions",
    "sla_definitions",
    "agent_health_thresholds",
    "raw.executions",
    "raw.actions",
    "circuit_breaker_configs",
    "circuit_breaker_states",
    "circuit_breaker_events",
    "notification_channels",
    "alert_routing_rules",
    "alerts",
    "alert_deliveries",
    "alert_silences",
)
# Authenticating a key refreshes its last_used_at; that is a read, not a write, for these tests.
_UNSTABLE_COLUMNS = {"api_keys": "last_used_at", "tenants": "updated_at"}


@dataclass(frozen=True)
class Tenant:
    tenant_id: uuid.UUID
    name: str
    keys: dict[str, IssuedKey]

    def auth(self, scope: str = "admin") -> dict[str, str]:
        """Request headers carrying this tenant's key that holds exactly `scope`."""
        return {"Authorization": f"Bearer {self.keys[scope].key}"}


@dataclass(frozen=True)
class Alerting:
    """One tenant's alerting resources: an open alert whose one delivery is dead-lettered, a
    webhook channel, a routing rule to it and a silence (which matches nothing)."""

    alert_id: uuid.UUID
    notification_channel_id: uuid.UUID
    alert_routing_rule_id: uuid.UUID
    alert_silence_id: uuid.UUID
    alert_delivery_id: uuid.UUID


@dataclass
class World:
    """One tenant's seeded resources, with the ids the route table fills paths from."""

    tenant: Tenant
    agent_id: uuid.UUID
    other_agent_id: uuid.UUID
    prompt_version_id: uuid.UUID
    other_prompt_version_id: uuid.UUID
    execution_id: uuid.UUID
    spare_key_id: uuid.UUID
    sla_definition_id: uuid.UUID
    alerting: Alerting
    agent_ids: list[uuid.UUID] = field(default_factory=list)
    prompt_version_ids: list[uuid.UUID] = field(default_factory=list)
    execution_ids: list[uuid.UUID] = field(default_factory=list)


def make_tenant(owner: psycopg.Connection, label: str = "tenant") -> Tenant:
    """A fresh tenant with one key per scope (so each key holds exactly that scope)."""
    name = f"{label}-{uuid.uuid4().hex[:12]}"
    tenant_id = create_tenant(owner, name)
    keys = {
        scope: create_api_key(owner, tenant_id, scopes=[scope], name=f"{scope}-key")
        for scope in SCOPES
    }
    return Tenant(tenant_id, name, keys)


def ok(response: Any, status: int = 200) -> Any:
    """The JSON of a response that must have `status`, with the body in the failure message."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def create_agent(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    body = {"name": f"agent-{uuid.uuid4().hex[:8]}", **fields}
    return ok(client.post("/v1/agents", json=body, headers=tenant.auth("write")), 201)


def create_version(
    client: TestClient, tenant: Tenant, agent_id: uuid.UUID | str, **fields: Any
) -> dict[str, Any]:
    body = {"template": f"Write about {{topic}} ({uuid.uuid4().hex[:6]}).", **fields}
    url = f"/v1/agents/{agent_id}/prompt-versions"
    return ok(client.post(url, json=body, headers=tenant.auth("write")), 201)


def create_sla(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    """An SLA definition (tenant-wide unless `agent_id` is given) that sets every target."""
    body = {
        "name": f"sla-{uuid.uuid4().hex[:8]}",
        "target_success_rate": 0.95,
        "target_p95_ms": 5_000,
        "target_availability": 0.99,
        "max_cost_per_execution_usd": 0.05,
        **fields,
    }
    return ok(client.post("/v1/sla-definitions", json=body, headers=tenant.auth("write")), 201)


def ensure_partitions(owner: psycopg.Connection, first: dt.date, last: dt.date) -> None:
    for table in ("raw.executions", "raw.actions"):
        owner.execute(
            "select app.ensure_daily_partitions(%s::regclass, %s, %s)", (table, first, last)
        )


def insert_execution(
    owner: psycopg.Connection,
    tenant: Tenant,
    agent_id: uuid.UUID | str,
    *,
    started_at: dt.datetime | None = None,
    status: str = "success",
    execution_id: uuid.UUID | None = None,
    actions: Iterable[dict[str, Any]] = (),
    **columns: Any,
) -> uuid.UUID:
    """Write one execution and its actions as ingest would; return the execution id.

    Each action is a dict of raw.actions columns; `action_id` and `started_at` default sensibly,
    so a caller names only what the test is about (e.g. `parent_action_id`).
    """
    execution_id = execution_id or uuid.uuid4()
    started_at = started_at or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    values: dict[str, Any] = {
        "execution_id": execution_id,
        "tenant_id": tenant.tenant_id,
        "agent_id": agent_id,
        "started_at": started_at,
        # a running execution has not ended yet
        "ended_at": None if status == "running" else started_at + dt.timedelta(seconds=2),
        "duration_ms": None if status == "running" else 2000.0,
        "status": status,
        "input": json.dumps({"topic": "tests"}),
        "output": json.dumps({"text": "done"}),
        "metadata": json.dumps({"seeded": True}),
        **columns,
    }
    _insert(owner, "raw.executions", values)
    for sequence, action in enumerate(actions):
        _insert(
            owner,
            "raw.actions",
            {
                "action_id": uuid.uuid4(),
                "tenant_id": tenant.tenant_id,
                "execution_id": execution_id,
                "agent_id": agent_id,
                "sequence": sequence,
                "action_type": "tool_call",
                "name": f"step-{sequence}",
                "started_at": started_at + dt.timedelta(milliseconds=10 * sequence),
                "status": "success",
                **action,
            },
        )
    return execution_id


# The marts the API reads. Their values by column type; text columns that hold one of a few
# values get one of them, every other text column the caller's marker.
API_MARTS = (
    "agent_daily_metrics", "agent_error_distribution", "cost_daily",
    "sla_daily_compliance", "sla_period_compliance",
)  # fmt: skip
_MART_VALUES: dict[str, Any] = {
    "bigint": 2, "integer": 2, "double precision": 0.5, "numeric": Decimal("0.25"),
    "boolean": False,
}  # fmt: skip
_MART_TEXT = {
    "cause_category": "unknown",
    "sla_period": "monthly",
    "breached_metrics": "availability",
    "primary_breached_metric": "availability",
    "top_breached_metric": "availability",
    "trend_driver_metric": "availability",
    "breach_trend": "worsening",
}


def insert_mart_rows(
    owner: psycopg.Connection,
    tenant: Tenant,
    agent_id: uuid.UUID | str,
    *,
    day: dt.date,
    marker: str,
    sla_definition_id: uuid.UUID | str | None = None,
) -> None:
    """A row of each mart the API reads for the agent's day (and its week and month), written
    as the daily pipeline writes them: as the owner, into the tables dbt built. Every free
    text is `marker`, so a leak of any of it shows. The SLA marts only with a definition."""
    monday = day - dt.timedelta(days=day.weekday())
    first_of_month = day.replace(day=1)
    next_month = (first_of_month + dt.timedelta(days=31)).replace(day=1)
    periods = {
        "sla_period_compliance": [
            {"period_granularity": "week", "period_start": monday,
             "period_end": monday + dt.timedelta(days=7)},
            {"period_granularity": "month", "period_start": first_of_month,
             "period_end": next_month},
        ]
    }  # fmt: skip
    for mart in API_MARTS:
        if mart.startswith("sla_") and sla_definition_id is None:
            continue
        columns = owner.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'marts' and table_name = %s order by ordinal_position",
            (mart,),
        ).fetchall()
        assert columns, f"marts.{mart} was not built"
        for period in periods.get(mart, [{}]):
            row = {
                name: _MART_TEXT.get(name, marker) if kind == "text" else _MART_VALUES.get(kind)
                for name, kind in columns
            }
            row |= {
                "tenant_id": tenant.tenant_id, "agent_id": agent_id, "execution_date": day,
                "sla_definition_id": sla_definition_id, **period,
            }  # fmt: skip
            _insert(owner, f"marts.{mart}", {name: row[name] for name, _ in columns})


def _insert(owner: psycopg.Connection, table: str, values: dict[str, Any]) -> None:
    schema, _, name = table.rpartition(".")
    statement = sql.SQL("insert into {} ({}) values ({})").format(
        sql.Identifier(schema, name) if schema else sql.Identifier(name),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )
    owner.execute(statement, list(values.values()))


def create_channel(client: TestClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    """A webhook channel (with a signing secret) through the API."""
    body = {
        "kind": "webhook",
        "name": f"hook-{uuid.uuid4().hex[:8]}",
        "config": {"url": "https://hooks.example.com/metaagent"},
        "secret": f"signing-{uuid.uuid4().hex}",
        **fields,
    }
    return ok(client.post("/v1/notification-channels", json=body, headers=tenant.auth()), 201)


def insert_alert(
    owner: psycopg.Connection,
    tenant: Tenant,
    agent_id: uuid.UUID | str | None,
    **columns: Any,
) -> uuid.UUID:
    """An open alert as the engine writes it, minus its notifications (as the owner)."""
    alert_id = uuid.uuid4()
    at = columns.pop("first_seen_at", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3))
    alert_type = columns.pop("alert_type", "error_rate_spike")
    values = {
        "alert_id": alert_id, "tenant_id": tenant.tenant_id, "agent_id": agent_id,
        "alert_type": alert_type, "severity": "warning",
        "fingerprint": f"{agent_id or 'tenant'}:{alert_type}:{alert_id}",
        "title": "error rate above 20 %", "first_seen_at": at, "last_seen_at": at,
        "notified_at": at, **columns,
    }  # fmt: skip
    for name in ("labels", "details"):
        if name in values:
            values[name] = json.dumps(values[name])
    _insert(owner, "alerts", values)
    return alert_id


def insert_delivery(
    owner: psycopg.Connection,
    tenant: Tenant,
    alert_id: uuid.UUID,
    channel_id: uuid.UUID | str,
    **columns: Any,
) -> uuid.UUID:
    """A delivery of the alert's opening on the channel, dead-lettered unless told otherwise."""
    delivery_id = uuid.uuid4()
    values = {
        "alert_delivery_id": delivery_id, "tenant_id": tenant.tenant_id, "alert_id": alert_id,
        "notification_channel_id": channel_id, "state_change": "opened",
        "status": "dead_letter", "attempts": 8, "last_error": "HTTP 500", "response_code": 500,
        **columns,
    }  # fmt: skip
    _insert(owner, "alert_deliveries", values)
    return delivery_id


def seed_alerting(
    client: TestClient, owner: psycopg.Connection, tenant: Tenant, agent_id: uuid.UUID | str
) -> Alerting:
    channel = create_channel(client, tenant)
    channel_id = channel["notification_channel_id"]
    rule = ok(
        client.post(
            "/v1/alert-routes",
            json={"notification_channel_id": channel_id, "severities": ["warning", "critical"]},
            headers=tenant.auth("write"),
        ),
        201,
    )
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    silence = ok(
        client.post(
            "/v1/alert-silences",
            json={"matchers": {"agent": f"nobody-{uuid.uuid4().hex[:6]}"}, "ends_at": ends},
            headers=tenant.auth("write"),
        ),
        201,
    )
    alert_id = insert_alert(owner, tenant, agent_id)
    return Alerting(
        alert_id=alert_id,
        notification_channel_id=uuid.UUID(channel_id),
        alert_routing_rule_id=uuid.UUID(rule["alert_routing_rule_id"]),
        alert_silence_id=uuid.UUID(silence["alert_silence_id"]),
        alert_delivery_id=insert_delivery(owner, tenant, alert_id, channel_id),
    )


def seed_world(client: TestClient, owner: psycopg.Connection, tenant: Tenant) -> World:
    """Two agents (one depending on the other), two prompt versions, a traced execution."""
    agent = create_agent(client, tenant, kind="writer", tags=["seed"], owner="team-a")
    other = create_agent(client, tenant, kind="assistant")
    first = create_version(client, tenant, agent["agent_id"], variables=["topic"])
    second = create_version(client, tenant, agent["agent_id"], change_summary="clearer")
    ok(
        client.post(
            f"/v1/agents/{agent['agent_id']}/dependencies",
            json={"downstream_agent_id": other["agent_id"], "kind": "feeds"},
            headers=tenant.auth("write"),
        ),
        201,
    )
    root, child = uuid.uuid4(), uuid.uuid4()
    execution_id = insert_execution(
        owner,
        tenant,
        agent["agent_id"],
        prompt_version_id=first["prompt_version_id"],
        actions=[
            {"action_id": root, "action_type": "llm_inference", "name": "plan"},
            {"action_id": child, "parent_action_id": root, "name": "search"},
            {"parent_action_id": child, "action_type": "retrieval", "name": "fetch"},
        ],
    )
    spare = create_api_key(owner, tenant.tenant_id, scopes=["read"], name="spare")
    sla = create_sla(client, tenant, agent_id=agent["agent_id"])
    alerting = seed_alerting(client, owner, tenant, agent["agent_id"])
    return World(
        tenant=tenant,
        agent_id=uuid.UUID(agent["agent_id"]),
        other_agent_id=uuid.UUID(other["agent_id"]),
        prompt_version_id=uuid.UUID(first["prompt_version_id"]),
        other_prompt_version_id=uuid.UUID(second["prompt_version_id"]),
        execution_id=execution_id,
        spare_key_id=spare.api_key_id,
        sla_definition_id=uuid.UUID(sla["sla_definition_id"]),
        alerting=alerting,
        agent_ids=[uuid.UUID(agent["agent_id"]), uuid.UUID(other["agent_id"])],
        prompt_version_ids=[
            uuid.UUID(first["prompt_version_id"]),
            uuid.UUID(second["prompt_version_id"]),
        ],
        execution_ids=[execution_id],
    )


def snapshot(owner: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and a digest of the contents of every table the API could write to."""
    state = {}
    for table in WRITTEN_TABLES:
        schema, _, name = table.rpartition(".")
        target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        unstable = _UNSTABLE_COLUMNS.get(name)
        # a sum of row hashes: independent of row order, and no sort of a growing table
        statement = sql.SQL(
            "select count(*), coalesce(sum(hashtextextended((to_jsonb(t) - {})::text, 0)), 0)"
            " from {} t"
        ).format(sql.Literal(unstable or ""), target)
        found = owner.execute(statement).fetchone()
        assert found is not None
        state[table] = (found[0], str(found[1]))
    return state


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an error in the one common format; return its `error` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str), error
    assert isinstance(error["message"], str), error
    assert error["code"], error
    assert error["message"], error
    if code is not None:
        assert error["code"] == code, error
    return error
