"""SLA definitions through the API (define, read, list, change by succession, retire) on the
API tests' database; their compliance and the SLA reports on a warehouse built by dbt over the
simulated fleets, equal to the mart tables read directly as the owner."""

from __future__ import annotations

import datetime as dt
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
from tests.api.test_metrics import RANGE, assert_same, mart
from tests.dbt.conftest import FIRST_DAY, LAST_DAY

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


def definitions_of(marts, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    rows = mart(
        marts, "select sla_definition_id from sla_definitions where tenant_id = %s", tenant_id
    )
    return [r["sla_definition_id"] for r in rows]


_DAILY = (
    "select c.*, a.name as agent_name,"
    " coalesce(string_to_array(c.breached_metrics, ','), '{}') as breached_metrics"
    " from marts.sla_daily_compliance c join agents a using (agent_id)"
)


def test_the_compliance_of_each_definition_is_the_mart_rows(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    judged = 0
    for sla_id in definitions_of(marts, tenant_a.tenant_id):
        body = ok(
            marts_api.get(f"{URL}/{sla_id}/compliance", params=RANGE, headers=tenant_a.auth())
        )
        rows = mart(
            marts,
            _DAILY + " where c.sla_definition_id = %s order by c.execution_date, a.name",
            sla_id,
        )
        assert body["sla_definition_id"] == str(sla_id)
        assert len(body["items"]) == len(rows)
        for item, row in zip(body["items"], rows, strict=True):
            del row["tenant_id"], row["sla_period"]
            assert set(item) == set(row)
            assert_same(item, row)
        judged += len(rows)
    breached = mart(
        marts, "select count(*) as n from marts.sla_daily_compliance where not is_compliant"
    )
    assert judged > 0
    assert breached[0]["n"] > 0


def test_the_compliance_of_one_agent_over_one_day(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    row = mart(marts, _DAILY + " where c.execution_date = %s limit 1", LAST_DAY)[0]
    params = {
        "from": LAST_DAY.isoformat(),
        "to": LAST_DAY.isoformat(),
        "agent_id": str(row["agent_id"]),
    }
    body = ok(
        marts_api.get(
            f"{URL}/{row['sla_definition_id']}/compliance", params=params, headers=tenant_a.auth()
        )
    )
    assert [i["agent_id"] for i in body["items"]] == [str(row["agent_id"])]
    assert body["items"][0]["execution_date"] == LAST_DAY.isoformat()


def test_the_daily_report_is_every_judged_day_as_a_period_of_one_day(
    marts_api, marts, fleet_tenants
):
    tenant_a, _ = fleet_tenants
    body = ok(
        marts_api.get(
            "/v1/sla/reports", params={**RANGE, "period": "daily"}, headers=tenant_a.auth()
        )
    )
    rows = mart(marts, _DAILY + " where c.tenant_id = %s", tenant_a.tenant_id)
    assert body["period"] == "daily"
    assert len(body["items"]) == len(rows)
    got = {(i["agent_id"], i["period_start"]): i for i in body["items"]}
    for row in rows:
        item = got[(str(row["agent_id"]), row["execution_date"].isoformat())]
        breached = not row["is_compliant"]
        assert item["period_end"] == (row["execution_date"] + dt.timedelta(days=1)).isoformat()
        assert (item["measured_day_count"], item["breached_day_count"]) == (1, int(breached))
        assert item["compliant_day_count"] == 1 - int(breached)
        assert item["breach_rate"] == float(breached)
        assert item["is_compliant"] is row["is_compliant"]
        assert item["breached_metrics"] == row["breached_metrics"]
        assert item["top_breached_metric"] == row["primary_breached_metric"]
        for metric in ("availability", "success_rate", "p95_latency", "cost_per_execution"):
            met = row[f"is_{metric}_met"]
            assert item[f"{metric}_breach_day_count"] == int(met is False), metric
        assert item["at_risk_day_count"] == int(row["is_at_risk"] is True)
        same = (
            "sla_definition_id", "sla_name", "agent_name", "execution_count", "failure_count",
            "decided_execution_count", "success_rate", "error_budget_consumed", "is_at_risk",
            "is_error_budget_exhausted", "breach_top_failure_category",
        )  # fmt: skip
        assert_same(item, {k: row[k] for k in same})
        assert item["allowed_failure_count"] == pytest.approx(
            row["error_budget"] * row["decided_execution_count"] if row["error_budget"] else None
        )
        assert item["breach_trend"] is item["previous_breach_rate"] is None


@pytest.mark.parametrize(("period", "granularity"), [("weekly", "week"), ("monthly", "month")])
def test_weekly_and_monthly_reports_are_the_period_mart_rows(
    marts_api, marts, fleet_tenants, period, granularity
):
    tenant_a, _ = fleet_tenants
    body = ok(
        marts_api.get(
            "/v1/sla/reports", params={**RANGE, "period": period}, headers=tenant_a.auth()
        )
    )
    rows = mart(
        marts,
        "select p.*, a.name as agent_name, s.name as sla_name from marts.sla_period_compliance p"
        " join agents a using (agent_id) join sla_definitions s using (sla_definition_id)"
        " where p.tenant_id = %s and p.period_granularity = %s"
        " order by p.period_start, a.name",
        tenant_a.tenant_id,
        granularity,
    )
    assert len(rows) >= 3
    assert len(body["items"]) == len(rows)
    for item, row in zip(body["items"], rows, strict=True):
        breached = [
            m
            for m in ("availability", "success_rate", "p95_latency", "cost_per_execution")
            if row[f"{m}_breach_day_count"] > 0
        ]
        assert item["breached_metrics"] == breached
        assert item["is_compliant"] is (row["breached_day_count"] == 0)
        assert item["breach_top_failure_category"] is None
        del row["tenant_id"], row["period_granularity"]
        assert_same(item, row)
    if period == "weekly":  # Saturday to Monday: the second week has a trend
        trends = {i["breach_trend"] for i in body["items"]}
        assert trends - {"no_previous_period"}, trends


def test_a_report_holds_the_periods_that_overlap_the_range(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    monday = LAST_DAY.isoformat()
    assert LAST_DAY.weekday() == 0
    body = ok(
        marts_api.get(
            "/v1/sla/reports",
            params={"period": "weekly", "from": monday, "to": monday},
            headers=tenant_a.auth(),
        )
    )
    assert {i["period_start"] for i in body["items"]} == {monday}
    wider = {
        "period": "weekly",
        "from": (FIRST_DAY + dt.timedelta(days=1)).isoformat(),
        "to": monday,
    }
    body = ok(marts_api.get("/v1/sla/reports", params=wider, headers=tenant_a.auth()))
    assert {i["period_start"] for i in body["items"]} == {"2025-03-10", monday}


def test_a_report_of_one_agent(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    agent_id = mart(marts, "select agent_id from marts.sla_period_compliance limit 1")[0][
        "agent_id"
    ]
    params = {**RANGE, "period": "monthly", "agent_id": str(agent_id)}
    body = ok(marts_api.get("/v1/sla/reports", params=params, headers=tenant_a.auth()))
    assert [i["agent_id"] for i in body["items"]] == [str(agent_id)]


def test_a_tenant_without_slas_sees_no_compliance_of_another(marts_api, marts, fleet_tenants):
    tenant_a, tenant_b = fleet_tenants
    for period in ("daily", "weekly", "monthly"):
        params = {**RANGE, "period": period}
        assert (
            ok(marts_api.get("/v1/sla/reports", params=params, headers=tenant_b.auth()))["items"]
            == []
        )
        assert ok(marts_api.get("/v1/sla/reports", params=params, headers=tenant_a.auth()))["items"]
    for sla_id in definitions_of(marts, tenant_a.tenant_id):
        response = marts_api.get(
            f"{URL}/{sla_id}/compliance", params=RANGE, headers=tenant_b.auth()
        )
        assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "params",
    [
        {"period": "hourly"},
        {"period": "weekly", "from": "2025-03-18", "to": "2025-03-17"},
        {"agent_id": "someone"},
    ],
)
def test_a_bad_report_request_is_refused(marts_api, marts, fleet_tenants, params):
    tenant_a, _ = fleet_tenants
    response = marts_api.get("/v1/sla/reports", params={**RANGE, **params}, headers=tenant_a.auth())
    assert assert_error(response, 422)["details"]


def test_a_report_wants_the_read_scope(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    assert_error(marts_api.get("/v1/sla/reports", params=RANGE), 401, "unauthenticated")
    assert_error(
        marts_api.get("/v1/sla/reports", headers=tenant_a.auth("ingest")), 403, "forbidden"
    )
