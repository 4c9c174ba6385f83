"""SLA definitions through the API: define, read, list, change by succession, retire.
Their compliance and the SLA reports are in test_sla_reports.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.support import (
    Tenant,
    assert_error,
    create_agent,
    create_sla,
    ok,
    snapshot,
)

pytestmark = pytest.mark.integration

URL = "/v1/sla-definitions"
TARGETS = {
    "target_success_rate": 0.97,
    "target_p95_ms": 8_000,
    "target_availability": 0.995,
    "max_cost_per_execution_usd": 0.05,
}


def definition(client: TestClient, tenant: Tenant, sla_id: str) -> dict[str, Any]:
    return ok(client.get(f"{URL}/{sla_id}", headers=tenant.auth("read")))


# defining


def test_a_definition_comes_back_as_stored(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    fields = {"name": "writer SLA", "agent_id": agent["agent_id"], **TARGETS}
    fields |= {"period": "weekly", "error_budget": 0.02}
    created = ok(client.post(URL, json=fields, headers=tenant.auth("write")), 201)
    assert {k: created[k] for k in fields} == fields
    assert created["is_current"] is True
    assert created["effective_to"] is None
    assert created["created_by"] == f"key:{tenant.keys['write'].api_key_id}"
    assert definition(client, tenant, created["sla_definition_id"]) == created


def test_left_out_fields_take_their_defaults(client: TestClient, tenant: Tenant):
    created = ok(
        client.post(URL, json={"name": "d", "target_p95_ms": 900}, headers=tenant.auth()), 201
    )
    assert created["agent_id"] is None  # the tenant-wide default
    assert created["period"] == "monthly"
    assert created["error_budget"] is None
    assert created["target_success_rate"] is None


def test_one_definition_in_force_per_agent_and_one_tenant_wide(
    client: TestClient, tenant: Tenant, owner
):
    agent = create_agent(client, tenant)
    create_sla(client, tenant, agent_id=agent["agent_id"])
    create_sla(client, tenant)
    before = snapshot(owner)
    for fields in ({"agent_id": agent["agent_id"]}, {}):
        response = client.post(
            URL, json={"name": "again", **TARGETS, **fields}, headers=tenant.auth()
        )
        error = assert_error(response, 409, "conflict")
        assert "in force" in error["message"]
    assert snapshot(owner) == before
    create_sla(client, tenant, agent_id=create_agent(client, tenant)["agent_id"])


def test_an_agent_of_another_tenant_is_not_found_and_an_archived_one_refused(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, owner
):
    theirs = create_agent(client, other_tenant)["agent_id"]
    archived = create_agent(client, tenant)["agent_id"]
    ok(client.post(f"/v1/agents/{archived}/archive", headers=tenant.auth()))
    before = snapshot(owner)
    for agent_id in (theirs, str(uuid.uuid4())):
        body = {"name": "x", "agent_id": agent_id, **TARGETS}
        assert_error(client.post(URL, json=body, headers=tenant.auth()), 404, "not_found")
    body = {"name": "x", "agent_id": archived, **TARGETS}
    assert_error(client.post(URL, json=body, headers=tenant.auth()), 409, "archived")
    assert snapshot(owner) == before


BAD_BODIES = {
    "an unknown field": {"name": "x", "target_p95_ms": 1, "colour": "red"},
    "no target": {"name": "x"},
    "only null targets": {"name": "x", **dict.fromkeys(TARGETS)},
    "a success rate of 0": {"name": "x", "target_success_rate": 0},
    "a success rate above 1": {"name": "x", "target_success_rate": 1.01},
    "a success rate as text": {"name": "x", "target_success_rate": "0.9"},
    "a success rate as a boolean": {"name": "x", "target_success_rate": True},
    "an availability of 0": {"name": "x", "target_availability": 0},
    "a p95 of 0": {"name": "x", "target_p95_ms": 0},
    "a negative p95": {"name": "x", "target_p95_ms": -5},
    "a p95 over a day": {"name": "x", "target_p95_ms": 86_400_001},
    "a cost of 0": {"name": "x", "max_cost_per_execution_usd": 0},
    "a cost below what is stored": {"name": "x", "max_cost_per_execution_usd": 1e-9},
    "a huge cost": {"name": "x", "max_cost_per_execution_usd": 100_001},
    "an error budget of 0": {"name": "x", "target_p95_ms": 1, "error_budget": 0},
    "an error budget of 1": {"name": "x", "target_p95_ms": 1, "error_budget": 1},
    "an unknown period": {"name": "x", "target_p95_ms": 1, "period": "hourly"},
    "an empty name": {"name": "", "target_p95_ms": 1},
    "a name with NUL": {"name": "a\x00b", "target_p95_ms": 1},
    "no name": {"target_p95_ms": 1},
    "an agent that is no id": {"name": "x", "target_p95_ms": 1, "agent_id": "nobody"},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_definition_is_refused_and_nothing_written(
    client: TestClient, tenant: Tenant, owner, body
):
    before = snapshot(owner)
    error = assert_error(client.post(URL, json=body, headers=tenant.auth("write")), 422)
    assert error["details"]
    assert snapshot(owner) == before


def test_nan_is_refused(client: TestClient, tenant: Tenant, owner):
    before = snapshot(owner)
    for number in ("NaN", "Infinity"):
        response = client.post(
            URL,
            content=f'{{"name": "x", "target_p95_ms": {number}}}',
            headers={**tenant.auth("write"), "Content-Type": "application/json"},
        )
        assert_error(response, 422)
    assert snapshot(owner) == before


# changing and retiring


def test_a_change_closes_the_definition_and_returns_its_successor(
    client: TestClient, tenant: Tenant
):
    agent = create_agent(client, tenant)
    first = create_sla(client, tenant, agent_id=agent["agent_id"], error_budget=0.1)
    change = {"target_p95_ms": 2_000, "target_availability": None, "name": "stricter"}
    url = f"{URL}/{first['sla_definition_id']}"
    successor = ok(client.patch(url, json=change, headers=tenant.auth("write")))
    assert successor["sla_definition_id"] != first["sla_definition_id"]
    assert {k: successor[k] for k in change} == change
    carried = ("agent_id", "target_success_rate", "max_cost_per_execution_usd", "period")
    assert {k: successor[k] for k in carried} == {k: first[k] for k in carried}
    assert successor["error_budget"] == 0.1
    assert successor["is_current"] is True
    closed = definition(client, tenant, first["sla_definition_id"])
    assert closed["is_current"] is False
    assert closed["effective_to"] == successor["effective_from"]
    assert {k: closed[k] for k in (*TARGETS, "name")} == {k: first[k] for k in (*TARGETS, "name")}
    current = ok(client.get(URL, params={"agent_id": agent["agent_id"]}, headers=tenant.auth()))
    assert [d["sla_definition_id"] for d in current["items"]] == [successor["sla_definition_id"]]
    history = ok(
        client.get(
            URL,
            params={"agent_id": agent["agent_id"], "include_retired": True},
            headers=tenant.auth(),
        )
    )
    assert {d["sla_definition_id"] for d in history["items"]} == {
        first["sla_definition_id"], successor["sla_definition_id"],
    }  # fmt: skip


def test_a_change_that_leaves_no_target_is_refused(client: TestClient, tenant: Tenant, owner):
    only = ok(
        client.post(URL, json={"name": "one", "target_success_rate": 0.9}, headers=tenant.auth()),
        201,
    )
    url = f"{URL}/{only['sla_definition_id']}"
    before = snapshot(owner)
    error = assert_error(
        client.patch(url, json={"target_success_rate": None}, headers=tenant.auth()), 422
    )
    assert "target" in error["details"][0]["message"]
    assert snapshot(owner) == before
    assert definition(client, tenant, only["sla_definition_id"]) == only


def test_an_empty_change_changes_nothing(client: TestClient, tenant: Tenant, owner):
    sla = create_sla(client, tenant)
    before = snapshot(owner)
    same = ok(client.patch(f"{URL}/{sla['sla_definition_id']}", json={}, headers=tenant.auth()))
    assert same == sla
    assert snapshot(owner) == before


@pytest.mark.parametrize(
    "body",
    [{"agent_id": None}, {"name": None}, {"period": None}, {"target_p95_ms": "fast"}, {"x": 1}],
    ids=["agent", "null name", "null period", "text", "unknown"],
)
def test_a_bad_change_is_refused(client: TestClient, tenant: Tenant, owner, body):
    sla = create_sla(client, tenant)
    before = snapshot(owner)
    response = client.patch(f"{URL}/{sla['sla_definition_id']}", json=body, headers=tenant.auth())
    assert assert_error(response, 422)["details"]
    assert snapshot(owner) == before


def test_a_changed_or_retired_definition_cannot_be_changed(
    client: TestClient, tenant: Tenant, owner
):
    changed = create_sla(client, tenant)
    ok(
        client.patch(
            f"{URL}/{changed['sla_definition_id']}", json={"name": "v2"}, headers=tenant.auth()
        )
    )
    retired = create_sla(client, tenant, agent_id=create_agent(client, tenant)["agent_id"])
    ok(client.delete(f"{URL}/{retired['sla_definition_id']}", headers=tenant.auth()), 204)
    before = snapshot(owner)
    for sla in (changed, retired):
        response = client.patch(
            f"{URL}/{sla['sla_definition_id']}", json={"name": "v3"}, headers=tenant.auth()
        )
        assert_error(response, 409, "retired")
    assert snapshot(owner) == before


def test_retiring_keeps_the_definition_readable_and_frees_its_agent(
    client: TestClient, tenant: Tenant
):
    agent_id = create_agent(client, tenant)["agent_id"]
    sla = create_sla(client, tenant, agent_id=agent_id)
    url = f"{URL}/{sla['sla_definition_id']}"
    assert ok(client.delete(url, headers=tenant.auth("write")), 204) is None
    retired = definition(client, tenant, sla["sla_definition_id"])
    assert retired["is_current"] is False
    assert retired["effective_to"] is not None
    assert {k: retired[k] for k in TARGETS} == {k: sla[k] for k in TARGETS}
    # again: nothing changes
    ok(client.delete(url, headers=tenant.auth("write")), 204)
    assert definition(client, tenant, sla["sla_definition_id"]) == retired
    listed = ok(client.get(URL, headers=tenant.auth()))["items"]
    assert sla["sla_definition_id"] not in {d["sla_definition_id"] for d in listed}
    create_sla(client, tenant, agent_id=agent_id)


def test_another_tenants_definition_is_not_found_by_any_route(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, owner
):
    theirs = create_sla(client, other_tenant)["sla_definition_id"]
    before = snapshot(owner)
    for method, suffix, body in (
        ("GET", "", None), ("PATCH", "", {"name": "mine now"}), ("DELETE", "", None),
        ("GET", "/compliance", None),
    ):  # fmt: skip
        response = client.request(
            method, f"{URL}/{theirs}{suffix}", json=body, headers=tenant.auth()
        )
        assert_error(response, 404, "not_found")
    assert snapshot(owner) == before
    assert definition(client, other_tenant, theirs)["is_current"] is True


def test_reading_wants_read_and_changing_wants_write(client: TestClient, tenant: Tenant):
    sla = create_sla(client, tenant)
    url = f"{URL}/{sla['sla_definition_id']}"
    ok(client.get(url, headers=tenant.auth("read")))
    body = {"name": "x", "target_p95_ms": 1}
    for method, target, payload in (("POST", URL, body), ("PATCH", url, {}), ("DELETE", url, None)):
        response = client.request(method, target, json=payload, headers=tenant.auth("read"))
        assert_error(response, 403, "forbidden")
    assert_error(client.get(url, headers=tenant.auth("ingest")), 403, "forbidden")
    assert_error(client.get(url), 401, "unauthenticated")


# listing


def test_definitions_page_newest_first_through_inserts(client: TestClient, tenant: Tenant):
    existing = [
        create_sla(client, tenant, agent_id=create_agent(client, tenant)["agent_id"])
        for _ in range(7)
    ]
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = ok(client.get(URL, params=params, headers=tenant.auth()))
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 3
        create_sla(client, tenant, agent_id=create_agent(client, tenant)["agent_id"])
    ids = [d["sla_definition_id"] for d in seen]
    assert len(ids) == len(set(ids))
    assert {d["sla_definition_id"] for d in existing} <= set(ids)
    keys = [(d["created_at"], d["sla_definition_id"]) for d in seen]
    assert keys == sorted(keys, reverse=True)


def test_a_made_up_cursor_is_refused(client: TestClient, tenant: Tenant):
    error = assert_error(client.get(URL, params={"cursor": "bm9wZQ"}, headers=tenant.auth()), 422)
    assert "cursor" in error["message"]


# compliance and reports, on the dbt-built warehouse
