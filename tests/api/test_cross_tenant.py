"""The isolation property: whatever two tenants hold, every read through every GET route with
one tenant's key shows nothing of the other's, whether listed, filtered for or asked for by id.

Each tenant's text carries a marker of its own, so a leak of any field (a name, a tag, a
template, an action, an error type or model in the marts) is caught, and so is a leak of any id.
The marts get their rows as the daily pipeline writes them (as the owner, into the tables dbt
built), one day per agent: a dbt run per example would take seconds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.routes import ROUTES
from tests.api.support import (
    Tenant,
    create_agent,
    create_channel,
    create_sla,
    create_version,
    insert_alert,
    insert_delivery,
    insert_execution,
    insert_mart_rows,
    ok,
)

pytestmark = pytest.mark.integration

storable = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=0, max_size=12
)

agent_plan = st.fixed_dictionaries(
    {
        "label": storable,
        "kind": st.sampled_from(["writer", "assistant", "classifier", "workflow", "custom"]),
        "tags": st.lists(storable, max_size=3),
        "status": st.sampled_from(["active", "paused", "archived"]),
        "versions": st.integers(0, 3),
        "current": st.booleans(),
        "executions": st.lists(
            st.tuples(
                st.sampled_from(["running", "success", "failure", "timeout", "cancelled"]),
                st.integers(0, 3),  # actions, each a child of the one before or a root
                st.integers(1, 60 * 23),  # minutes ago
            ),
            max_size=3,
        ),
        "sla": st.sampled_from(["none", "current", "changed", "retired"]),
    }
)
tenant_plan = st.fixed_dictionaries(
    {
        "agents": st.lists(agent_plan, min_size=1, max_size=3),
        "tenant_wide_sla": st.booleans(),
        "edges": st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=3),
        "keys": st.integers(0, 2),
    }
)


@dataclass
class Holdings:
    """What one tenant was given: its marker and every id it owns."""

    tenant: Tenant
    marker: str
    agents: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    slas: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    silences: list[str] = field(default_factory=list)

    @property
    def secrets(self) -> list[str]:
        """Strings that must never appear in another tenant's responses."""
        return [
            self.marker, str(self.tenant.tenant_id), *self.agents, *self.versions,
            *self.executions, *self.actions, *self.keys, *self.slas, *self.alerts,
            *self.channels, *self.rules, *self.silences,
            *(key.key for key in self.tenant.keys.values()),
            *(str(key.api_key_id) for key in self.tenant.keys.values()),
        ]  # fmt: skip


def populate(
    client: TestClient, owner: psycopg.Connection, tenant: Tenant, plan: dict[str, Any]
) -> Holdings:
    held = Holdings(tenant, marker=f"mk{uuid.uuid4().hex[:10]}")
    auth = tenant.auth("write")
    now = dt.datetime.now(dt.UTC)
    to_archive: list[str] = []
    for i, spec in enumerate(plan["agents"]):
        agent = create_agent(
            client, tenant, name=f"{held.marker}-{i}-{spec['label']}", kind=spec["kind"],
            tags=[f"{held.marker}{t}" for t in spec["tags"]],
            description=held.marker, owner=held.marker,
        )  # fmt: skip
        agent_id = agent["agent_id"]
        held.agents.append(agent_id)
        versions = [
            create_version(client, tenant, agent_id, template=f"{held.marker} {n}")[
                "prompt_version_id"
            ]
            for n in range(spec["versions"])
        ]
        held.versions += versions
        if versions and spec["current"]:
            url = f"/v1/agents/{agent_id}/prompt-versions/{versions[-1]}/current"
            ok(client.post(url, headers=auth))
        for status, n_actions, minutes in spec["executions"]:
            action_ids = [uuid.uuid4() for _ in range(n_actions)]
            held.actions += map(str, action_ids)
            execution_id = insert_execution(
                owner, tenant, agent_id, status=status,
                started_at=now - dt.timedelta(minutes=minutes),
                prompt_version_id=versions[0] if versions else None,
                session_id=held.marker, variant=held.marker, error_type=held.marker,
                actions=[
                    {"action_id": a, "parent_action_id": action_ids[n - 1] if n else None,
                     "name": held.marker}
                    for n, a in enumerate(action_ids)
                ],
            )  # fmt: skip
            held.executions.append(str(execution_id))
        sla_id = _define_sla(client, held, spec["sla"], agent_id=agent_id)
        _record_health(client, owner, held, agent_id)
        insert_mart_rows(
            owner, tenant, agent_id, day=now.date(), marker=held.marker, sla_definition_id=sla_id
        )
        if spec["status"] == "paused":
            ok(client.patch(f"/v1/agents/{agent_id}", json={"status": "paused"}, headers=auth))
        elif spec["status"] == "archived":
            to_archive.append(agent_id)
    for up, down in plan["edges"]:
        if up < len(held.agents) and down < len(held.agents) and up != down:
            ok(
                client.post(
                    f"/v1/agents/{held.agents[up]}/dependencies",
                    json={"downstream_agent_id": held.agents[down], "description": held.marker},
                    headers=auth,
                ),
                201,
            )
    if plan["tenant_wide_sla"]:
        _define_sla(client, held, "current", agent_id=None)
    # archived last: an archived agent takes no new dependencies
    for agent_id in to_archive:
        ok(client.post(f"/v1/agents/{agent_id}/archive", headers=auth))
    _alerting(client, owner, held)
    for n in range(plan["keys"]):
        issued = ok(
            client.post(
                "/v1/keys",
                json={"name": f"{held.marker}-{n}", "scopes": ["read"]},
                headers=tenant.auth("admin"),
            ),
            201,
        )
        held.keys.append(issued["api_key_id"])
    return held


def _record_health(
    client: TestClient, owner: psycopg.Connection, held: Holdings, agent_id: str
) -> None:
    """Health as the realtime worker records it (a row and a transition, both with the
    marker as their reason, as the owner) and threshold overrides (through the API)."""
    tenant_id = held.tenant.tenant_id
    owner.execute(
        "insert into agent_health_realtime (tenant_id, agent_id, state, reason, details, version)"
        " values (%s, %s, 'degraded', %s, jsonb_build_object('marker', %s::text), 1)",
        (tenant_id, agent_id, held.marker, held.marker),
    )
    owner.execute(
        "insert into agent_health_transitions (tenant_id, agent_id, from_state, to_state,"
        " reason, metrics, version) values (%s, %s, 'healthy', 'degraded', %s,"
        " jsonb_build_object('marker', %s::text), 1)",
        (tenant_id, agent_id, held.marker, held.marker),
    )
    url = f"/v1/agents/{agent_id}/health/thresholds"
    ok(client.put(url, json={"min_samples": 5}, headers=held.tenant.auth("write")))
    # the breaker: an override and a configuration, both recorded with the marker as reason
    write = held.tenant.auth("write")
    body = {"action": "force_open", "reason": held.marker}
    ok(client.post(f"/v1/agents/{agent_id}/circuit", json=body, headers=write))
    body = {"min_calls": 5, "reason": held.marker}
    ok(client.put(f"/v1/agents/{agent_id}/circuit/config", json=body, headers=write))


def _alerting(client: TestClient, owner: psycopg.Connection, held: Holdings) -> None:
    """A channel, a rule, a silence and an alert (with a dead-lettered delivery), all marked."""
    tenant = held.tenant
    channel = create_channel(
        client, tenant, name=held.marker, config={"url": f"https://{held.marker}.example.com"}
    )
    held.channels.append(channel["notification_channel_id"])
    body = {"notification_channel_id": channel["notification_channel_id"], "name": held.marker}
    rule = ok(client.post("/v1/alert-routes", json=body, headers=tenant.auth("write")), 201)
    held.rules.append(rule["alert_routing_rule_id"])
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    body = {"matchers": {"agent": held.marker}, "ends_at": ends, "comment": held.marker}
    silence = ok(client.post("/v1/alert-silences", json=body, headers=tenant.auth("write")), 201)
    held.silences.append(silence["alert_silence_id"])
    alert_id = insert_alert(
        owner, tenant, held.agents[0], title=held.marker, labels={"agent": held.marker}
    )
    held.alerts.append(str(alert_id))
    insert_delivery(owner, tenant, alert_id, channel["notification_channel_id"])


def _define_sla(
    client: TestClient, held: Holdings, state: str, *, agent_id: str | None
) -> str | None:
    """An SLA definition in `state` (none, current, changed: with a successor, retired)."""
    if state == "none":
        return None
    auth = held.tenant.auth("write")
    sla = create_sla(client, held.tenant, name=held.marker, agent_id=agent_id)
    held.slas.append(sla["sla_definition_id"])
    url = f"/v1/sla-definitions/{sla['sla_definition_id']}"
    if state == "changed":
        successor = ok(client.patch(url, json={"name": f"{held.marker}-2"}, headers=auth))
        held.slas.append(successor["sla_definition_id"])
    elif state == "retired":
        ok(client.delete(url, headers=auth), 204)
    return str(sla["sla_definition_id"])


def _first(ids: list[str]) -> list[str]:
    return ids[:1]


# For each GET route: the URLs to read it with, given whose ids to fill in. Reads with the
# caller's own ids must succeed; reads with the other tenant's ids must be 404.
READS: dict[str, Callable[[Holdings], list[str]]] = {
    "/healthz": lambda h: ["/healthz"],
    "/readyz": lambda h: ["/readyz"],
    "/v1/agents": lambda h: (
        [f"/v1/agents?limit=500&status={s}" for s in ("active", "paused", "archived")]
        + ["/v1/agents?limit=500", f"/v1/agents?q={h.marker}", f"/v1/agents?owner={h.marker}"]
    ),
    "/v1/agents/graph": lambda h: ["/v1/agents/graph"],
    "/v1/agents/{agent_id}": lambda h: [f"/v1/agents/{a}" for a in h.agents],
    "/v1/agents/{agent_id}/dependencies": lambda h: [
        f"/v1/agents/{a}/dependencies" for a in h.agents
    ],
    "/v1/agents/{agent_id}/prompt-versions": lambda h: [
        f"/v1/agents/{a}/prompt-versions?limit=500" for a in h.agents
    ],
    "/v1/prompt-versions/{prompt_version_id}": lambda h: [
        f"/v1/prompt-versions/{v}" for v in h.versions
    ],
    "/v1/prompt-versions/{prompt_version_id}/diff": lambda h: [
        f"/v1/prompt-versions/{v}/diff?against={w}" for v in h.versions for w in _first(h.versions)
    ],
    "/v1/executions": lambda h: [
        "/v1/executions?limit=500",
        f"/v1/executions?session_id={h.marker}",
        f"/v1/executions?variant={h.marker}&error_type={h.marker}",
        *(f"/v1/executions?agent_id={a}" for a in h.agents),
        *(f"/v1/executions?prompt_version_id={v}" for v in h.versions),
    ],
    "/v1/executions/{execution_id}": lambda h: [f"/v1/executions/{e}" for e in h.executions],
    "/v1/overview": lambda h: ["/v1/overview"],
    "/v1/keys": lambda h: ["/v1/keys"],
    "/v1/agents/{agent_id}/metrics/daily": lambda h: [
        f"/v1/agents/{a}/metrics/daily" for a in h.agents
    ],
    "/v1/metrics/errors": lambda h: [
        "/v1/metrics/errors?group_by=agent&group_by=day&group_by=error_type",
        *(f"/v1/metrics/errors?agent_id={a}" for a in h.agents),
    ],
    "/v1/metrics/costs": lambda h: [
        "/v1/metrics/costs?group_by=agent&group_by=model&group_by=day",
        *(f"/v1/metrics/costs?agent_id={a}" for a in h.agents),
    ],
    "/v1/sla-definitions": lambda h: [
        "/v1/sla-definitions?include_retired=true&limit=500",
        *(f"/v1/sla-definitions?include_retired=true&agent_id={a}" for a in h.agents),
    ],
    "/v1/sla-definitions/{sla_definition_id}": lambda h: [
        f"/v1/sla-definitions/{s}" for s in h.slas
    ],
    "/v1/sla-definitions/{sla_definition_id}/compliance": lambda h: [
        f"/v1/sla-definitions/{s}/compliance" for s in h.slas
    ],
    "/v1/health": lambda h: [
        "/v1/health?limit=500",
        *(f"/v1/health?state={s}" for s in ("healthy", "degraded", "critical", "unknown")),
    ],
    "/v1/agents/{agent_id}/health": lambda h: [f"/v1/agents/{a}/health" for a in h.agents],
    "/v1/agents/{agent_id}/health/transitions": lambda h: [
        f"/v1/agents/{a}/health/transitions?limit=500" for a in h.agents
    ],
    "/v1/agents/{agent_id}/health/thresholds": lambda h: [
        f"/v1/agents/{a}/health/thresholds" for a in h.agents
    ],
    "/v1/agents/{agent_id}/circuit": lambda h: [f"/v1/agents/{a}/circuit" for a in h.agents],
    "/v1/agents/{agent_id}/circuit/config": lambda h: [
        f"/v1/agents/{a}/circuit/config" for a in h.agents
    ],
    "/v1/agents/{agent_id}/circuit/events": lambda h: [
        f"/v1/agents/{a}/circuit/events?limit=500" for a in h.agents
    ],
    "/v1/alerts": lambda h: [
        "/v1/alerts?limit=500",
        *(f"/v1/alerts?agent={a}" for a in h.agents),
    ],
    "/v1/alerts/{alert_id}": lambda h: [f"/v1/alerts/{a}" for a in h.alerts],
    "/v1/alert-deliveries": lambda h: ["/v1/alert-deliveries?limit=500"],
    "/v1/notification-channels": lambda h: ["/v1/notification-channels"],
    "/v1/notification-channels/{notification_channel_id}": lambda h: [
        f"/v1/notification-channels/{c}" for c in h.channels
    ],
    "/v1/alert-routes": lambda h: ["/v1/alert-routes"],
    "/v1/alert-routes/{alert_routing_rule_id}": lambda h: [
        f"/v1/alert-routes/{r}" for r in h.rules
    ],
    "/v1/alert-silences": lambda h: ["/v1/alert-silences?include_ended=true"],
    "/v1/alert-settings": lambda h: ["/v1/alert-settings"],
    "/v1/sla/reports": lambda h: [
        *(f"/v1/sla/reports?period={p}" for p in ("daily", "weekly", "monthly")),
        *(f"/v1/sla/reports?period=weekly&agent_id={a}" for a in h.agents),
    ],
}


def test_every_get_route_is_read_by_the_isolation_property():
    assert set(READS) == {route.path for route in ROUTES if route.method == "GET"}


def _takes_ids(path: str) -> bool:
    return "{" in path


def assert_sees_nothing_of(client: TestClient, reader: Holdings, other: Holdings) -> None:
    headers = reader.tenant.auth("admin")
    for path, urls in READS.items():
        own_urls = urls(reader)
        # Ids of the other tenant, in the caller's paths and filters.
        foreign_urls = [u for u in urls(other) if _takes_ids(path) or "_id=" in u]
        for url in own_urls + foreign_urls:
            response = client.get(url, headers=headers)
            leaked = [s for s in other.secrets if s in response.text]
            assert not leaked, f"GET {url} leaked {leaked}: {response.text}"
            if url in foreign_urls and _takes_ids(path):
                assert response.status_code == 404, f"GET {url}: {response.text}"
            elif url in foreign_urls:
                assert ok(response)["items"] == [], url
            else:
                assert response.status_code == 200, f"GET {url}: {response.text}"


def assert_sees_all_of_its_own(client: TestClient, held: Holdings) -> None:
    """So the property cannot hold vacuously: the caller does see what it owns."""
    headers = held.tenant.auth("read")
    agents = {
        a["agent_id"]
        for s in ("active", "paused", "archived")
        for a in ok(client.get(f"/v1/agents?limit=500&status={s}", headers=headers))["items"]
    }
    assert agents == set(held.agents)
    executions = ok(client.get("/v1/executions?limit=500", headers=headers))["items"]
    assert {e["execution_id"] for e in executions} == set(held.executions)
    overview = ok(client.get("/v1/overview", headers=headers))
    assert overview["agents"]["total"] == len(held.agents)
    assert overview["executions_24h"] == len(held.executions)
    keys = {k["api_key_id"] for k in ok(client.get("/v1/keys", headers=held.tenant.auth()))}
    assert set(held.keys) <= keys
    assert len(keys) == len(held.keys) + len(held.tenant.keys)
    slas = ok(client.get("/v1/sla-definitions?include_retired=true&limit=500", headers=headers))
    assert {s["sla_definition_id"] for s in slas["items"]} == set(held.slas)
    for agent_id in held.agents:
        days = ok(client.get(f"/v1/agents/{agent_id}/metrics/daily", headers=headers))["items"]
        assert len(days) == 1, agent_id
    errors = ok(client.get("/v1/metrics/errors?group_by=agent", headers=headers))
    assert {e["agent_id"] for e in errors["items"]} == set(held.agents)
    costs = ok(client.get("/v1/metrics/costs?group_by=agent", headers=headers))
    assert {c["agent_id"] for c in costs["items"]} == set(held.agents)
    fleet = ok(client.get("/v1/health?limit=500", headers=headers))
    assert fleet["counts"]["total"] == len(fleet["items"]) <= len(held.agents)
    alerts = ok(client.get("/v1/alerts?limit=500", headers=headers))["items"]
    assert {a["alert_id"] for a in alerts} == set(held.alerts)
    channels = ok(client.get("/v1/notification-channels", headers=headers))
    assert {c["notification_channel_id"] for c in channels} == set(held.channels)
    dead = ok(client.get("/v1/alert-deliveries?status=dead_letter", headers=headers))["items"]
    assert {d["alert_id"] for d in dead} == set(held.alerts)
    for agent_id in held.agents:
        url = f"/v1/agents/{agent_id}/health/transitions"
        assert ok(client.get(url, headers=headers))["items"][0]["reason"] == held.marker


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(first=tenant_plan, second=tenant_plan)
def test_no_read_by_one_tenant_shows_anything_of_another(
    client: TestClient,
    owner: psycopg.Connection,
    new_tenant: Callable[..., Tenant],
    first: dict[str, Any],
    second: dict[str, Any],
):
    a = populate(client, owner, new_tenant("iso-a"), first)
    b = populate(client, owner, new_tenant("iso-b"), second)
    for reader, other in ((a, b), (b, a)):
        assert_sees_all_of_its_own(client, reader)
        assert_sees_nothing_of(client, reader, other)
