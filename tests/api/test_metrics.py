"""Warehouse reads through the API: an agent's daily metrics, the error distribution and LLM
costs equal what dbt put in the marts (`marts`: built once for this module over two tenants'
simulated fleets, the dbt tests' own raw data); each tenant's key reads its own numbers only.

The expected numbers come from the mart tables, read directly as the owner.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from api.app import create_app
from meta_agent import migrations
from meta_agent.connections import ServerUrls
from meta_agent.settings import load_settings
from meta_agent.tenants import create_api_key, create_tenant
from tests.api.support import assert_error, ok
from tests.dbt.conftest import FIRST_DAY, LAST_DAY, Warehouse

pytestmark = pytest.mark.integration

RANGE = {"from": FIRST_DAY.isoformat(), "to": LAST_DAY.isoformat()}


def mart(marts: Warehouse, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(marts.db.owner_url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def assert_same(item: dict[str, Any], row: dict[str, Any]) -> None:
    """An item of a response carries the row's values (numerics as decimal strings)."""
    for name, value in row.items():
        got = item[name]
        if isinstance(value, Decimal):
            assert Decimal(got) == value, name
        elif isinstance(value, (dt.date, uuid.UUID)):
            assert got == str(value), name
        else:
            assert got == value, name


def agents_of(marts: Warehouse, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    rows = mart(
        marts,
        "select distinct agent_id from marts.agent_daily_metrics where tenant_id = %s",
        tenant_id,
    )
    return [r["agent_id"] for r in rows]


# daily metrics


def test_an_agents_days_are_the_mart_rows(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    agents = agents_of(marts, tenant_a.tenant_id)
    assert len(agents) >= 3
    for agent_id in agents:
        body = ok(
            marts_api.get(
                f"/v1/agents/{agent_id}/metrics/daily", params=RANGE, headers=tenant_a.auth("read")
            )
        )
        rows = mart(
            marts,
            "select * from marts.agent_daily_metrics where agent_id = %s order by execution_date",
            agent_id,
        )
        assert [r["execution_date"] for r in rows] == [
            FIRST_DAY + dt.timedelta(days=n) for n in range(3)
        ]
        assert body["agent_id"] == str(agent_id)
        assert body["agent_name"] == rows[0]["agent_name"]
        assert (body["from"], body["to"]) == (RANGE["from"], RANGE["to"])
        assert len(body["items"]) == len(rows)
        for item, row in zip(body["items"], rows, strict=True):
            del row["tenant_id"], row["agent_id"], row["agent_name"]
            assert set(item) == set(row)
            assert_same(item, row)


def test_the_range_bounds_the_days_both_included(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    agent_id = agents_of(marts, tenant_a.tenant_id)[0]
    url = f"/v1/agents/{agent_id}/metrics/daily"
    middle = (FIRST_DAY + dt.timedelta(days=1)).isoformat()
    one = ok(marts_api.get(url, params={"from": middle, "to": middle}, headers=tenant_a.auth()))
    assert [d["execution_date"] for d in one["items"]] == [middle]
    two = ok(
        marts_api.get(url, params={"from": middle, "to": "2025-12-31"}, headers=tenant_a.auth())
    )
    assert [d["execution_date"] for d in two["items"]] == [middle, LAST_DAY.isoformat()]


def test_without_a_range_the_last_30_days_up_to_today(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    agent_id = agents_of(marts, tenant_a.tenant_id)[0]
    body = ok(marts_api.get(f"/v1/agents/{agent_id}/metrics/daily", headers=tenant_a.auth()))
    today = dt.datetime.now(dt.UTC).date()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - dt.timedelta(days=29)).isoformat()
    assert body["items"] == []  # the fleet's days are in 2025
    only_to = {"to": LAST_DAY.isoformat()}
    body = ok(
        marts_api.get(
            f"/v1/agents/{agent_id}/metrics/daily", params=only_to, headers=tenant_a.auth()
        )
    )
    assert len(body["items"]) == 3


def test_another_tenants_agent_is_not_found(marts_api, marts, fleet_tenants):
    tenant_a, tenant_b = fleet_tenants
    theirs = agents_of(marts, tenant_b.tenant_id)[0]
    for agent_id in (theirs, uuid.uuid4()):
        response = marts_api.get(
            f"/v1/agents/{agent_id}/metrics/daily", params=RANGE, headers=tenant_a.auth()
        )
        assert_error(response, 404, "not_found")
    ok(marts_api.get(f"/v1/agents/{theirs}/metrics/daily", params=RANGE, headers=tenant_b.auth()))


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"from": "2025-03-17", "to": "2025-03-16"}, "from"),
        ({"from": "2024-03-16", "to": "2025-03-17"}, "from"),  # 366 days and one
        ({"from": "2999-01-01"}, "from"),  # after today, the default `to`
        ({"from": "2025-3-1"}, "from"),
        ({"from": "1700000000"}, "from"),
        ({"to": "2025-02-30"}, "to"),
        ({"to": "yesterday"}, "to"),
    ],
)
def test_a_bad_range_is_refused_naming_the_parameter(
    marts_api, marts, fleet_tenants, params, parameter
):
    tenant_a, _ = fleet_tenants
    agent_id = agents_of(marts, tenant_a.tenant_id)[0]
    for url in (f"/v1/agents/{agent_id}/metrics/daily", "/v1/metrics/errors", "/v1/metrics/costs"):
        error = assert_error(marts_api.get(url, params=params, headers=tenant_a.auth()), 422)
        assert [d["location"] for d in error["details"]] == [["query", parameter]], url


def test_a_range_of_exactly_366_days_is_accepted(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    params = {"from": "2024-03-17", "to": "2025-03-17"}
    assert (LAST_DAY - dt.date(2024, 3, 17)).days + 1 == 366
    body = ok(marts_api.get("/v1/metrics/costs", params=params, headers=tenant_a.auth()))
    assert body["items"]


def test_the_reads_want_a_key_with_the_read_scope(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    agent_id = agents_of(marts, tenant_a.tenant_id)[0]
    for url in (f"/v1/agents/{agent_id}/metrics/daily", "/v1/metrics/errors", "/v1/metrics/costs"):
        assert_error(marts_api.get(url, params=RANGE), 401, "unauthenticated")
        assert_error(
            marts_api.get(url, params=RANGE, headers=tenant_a.auth("ingest")), 403, "forbidden"
        )


# error distribution


def test_errors_by_type_are_the_marts_sums_with_shares_of_all_failures(
    marts_api, marts, fleet_tenants
):
    tenant_a, _ = fleet_tenants
    body = ok(marts_api.get("/v1/metrics/errors", params=RANGE, headers=tenant_a.auth()))
    rows = mart(
        marts,
        "select error_type, cause_category, sum(failure_count)::bigint as failures,"
        " sum(timeout_count)::bigint as timeouts,"
        " sum(availability_failure_count)::bigint as unavailable"
        " from marts.agent_error_distribution where tenant_id = %s"
        " group by error_type, cause_category",
        tenant_a.tenant_id,
    )
    total = sum(r["failures"] for r in rows)
    assert len(rows) >= 3
    assert total > 0
    assert body["group_by"] == ["error_type"]
    assert body["failure_count"] == total
    got = {(i["error_type"], i["cause_category"]): i for i in body["items"]}
    assert set(got) == {(r["error_type"], r["cause_category"]) for r in rows}
    for row in rows:
        item = got[(row["error_type"], row["cause_category"])]
        assert (item["failure_count"], item["timeout_count"], item["availability_failure_count"]) == (
            row["failures"], row["timeouts"], row["unavailable"],
        )  # fmt: skip
        assert item["share_of_failures"] == pytest.approx(row["failures"] / total, rel=1e-12)
        assert item["agent_id"] is item["execution_date"] is None
    counts = [i["failure_count"] for i in body["items"]]
    assert counts == sorted(counts, reverse=True)
    assert sum(i["share_of_failures"] for i in body["items"]) == pytest.approx(1.0)


def test_errors_grouped_by_agent_day_and_type_are_the_mart_rows(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    params = {**RANGE, "group_by": ["agent", "day", "error_type"]}
    body = ok(marts_api.get("/v1/metrics/errors", params=params, headers=tenant_a.auth()))
    rows = mart(
        marts,
        "select e.agent_id, e.execution_date, e.error_type, e.cause_category, e.failure_count,"
        " e.timeout_count, e.availability_failure_count, a.name as agent_name"
        " from marts.agent_error_distribution e join agents a using (agent_id)"
        " where e.tenant_id = %s",
        tenant_a.tenant_id,
    )
    assert len(body["items"]) == len(rows)
    key = ("agent_id", "execution_date", "error_type")
    got = {tuple(i[k] for k in key): i for i in body["items"]}
    for row in rows:
        assert_same(got[tuple(str(row[k]) for k in key)], row)
    days = [i["execution_date"] for i in body["items"]]
    assert days == sorted(days)


def test_errors_of_one_agent_and_by_cause_category(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    for agent_id in agents_of(marts, tenant_a.tenant_id):
        params = {**RANGE, "agent_id": str(agent_id), "group_by": "cause_category"}
        body = ok(marts_api.get("/v1/metrics/errors", params=params, headers=tenant_a.auth()))
        rows = mart(
            marts,
            "select cause_category, sum(failure_count) as failures"
            " from marts.agent_error_distribution where agent_id = %s group by cause_category",
            agent_id,
        )
        assert {i["cause_category"]: i["failure_count"] for i in body["items"]} == {
            r["cause_category"]: r["failures"] for r in rows
        }
        assert all(i["error_type"] is None for i in body["items"])


# costs


def test_costs_by_agent_model_and_day_are_the_mart_rows(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    params = {**RANGE, "group_by": ["agent", "model", "day"]}
    body = ok(marts_api.get("/v1/metrics/costs", params=params, headers=tenant_a.auth()))
    rows = mart(
        marts,
        "select c.agent_id, a.name as agent_name, c.model_name, c.execution_date,"
        " c.llm_call_count, c.failed_llm_call_count, c.input_tokens, c.output_tokens,"
        " c.cost_usd, c.cost_per_llm_call_usd"
        " from marts.cost_daily c join agents a using (agent_id) where c.tenant_id = %s",
        tenant_a.tenant_id,
    )
    assert len(rows) >= 6
    assert len(body["items"]) == len(rows)
    key = ("agent_id", "model_name", "execution_date")
    got = {tuple(i[k] for k in key): i for i in body["items"]}
    total = sum(r["cost_usd"] for r in rows)
    assert Decimal(body["cost_usd"]) == total
    for row in rows:
        item = got[tuple(str(row[k]) for k in key)]
        per_call = row.pop("cost_per_llm_call_usd")
        assert_same(item, row)
        assert item["cost_per_llm_call_usd"] == pytest.approx(per_call, rel=1e-12)
        assert item["share_of_cost"] == pytest.approx(float(row["cost_usd"] / total), rel=1e-12)


def test_costs_by_model_sum_the_mart_over_agents_and_days(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    params = {**RANGE, "group_by": "model"}
    body = ok(marts_api.get("/v1/metrics/costs", params=params, headers=tenant_a.auth()))
    rows = mart(
        marts,
        "select model_name, sum(cost_usd) as cost, sum(llm_call_count) as calls"
        " from marts.cost_daily where tenant_id = %s group by model_name",
        tenant_a.tenant_id,
    )
    assert {
        i["model_name"]: (Decimal(i["cost_usd"]), i["llm_call_count"]) for i in body["items"]
    } == {r["model_name"]: (r["cost"], r["calls"]) for r in rows}
    costs = [Decimal(i["cost_usd"]) for i in body["items"]]
    assert costs == sorted(costs, reverse=True)
    assert all(i["agent_id"] is i["execution_date"] is None for i in body["items"])


def test_costs_by_day_is_the_default_and_one_agent_can_be_chosen(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    agent_id = agents_of(marts, tenant_a.tenant_id)[0]
    params = {**RANGE, "agent_id": str(agent_id)}
    body = ok(marts_api.get("/v1/metrics/costs", params=params, headers=tenant_a.auth()))
    rows = mart(
        marts,
        "select execution_date, sum(cost_usd) as cost from marts.cost_daily"
        " where agent_id = %s group by execution_date order by execution_date",
        agent_id,
    )
    assert body["group_by"] == ["day"]
    assert [(i["execution_date"], Decimal(i["cost_usd"])) for i in body["items"]] == [
        (r["execution_date"].isoformat(), r["cost"]) for r in rows
    ]


def test_a_dimension_named_twice_groups_once(marts_api, marts, fleet_tenants):
    tenant_a, _ = fleet_tenants
    once = ok(
        marts_api.get(
            "/v1/metrics/costs", params={**RANGE, "group_by": "model"}, headers=tenant_a.auth()
        )
    )
    twice = ok(
        marts_api.get(
            "/v1/metrics/costs",
            params={**RANGE, "group_by": ["model", "model"]},
            headers=tenant_a.auth(),
        )
    )
    assert twice == once


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/v1/metrics/costs", {"group_by": "error_type"}),
        ("/v1/metrics/costs", {"group_by": ["day", "model", "agent", "day"]}),
        ("/v1/metrics/errors", {"group_by": "model"}),
        ("/v1/metrics/errors", {"agent_id": "not-a-uuid"}),
    ],
)
def test_bad_filters_are_refused(marts_api, marts, fleet_tenants, url, params):
    tenant_a, _ = fleet_tenants
    error = assert_error(
        marts_api.get(url, params={**RANGE, **params}, headers=tenant_a.auth()), 422
    )
    assert error["details"]


# tenants


def test_each_tenant_reads_its_own_numbers_and_nothing_of_the_other(
    marts_api, marts, fleet_tenants
):
    for reader, other in (fleet_tenants, fleet_tenants[::-1]):
        own = {str(a) for a in agents_of(marts, reader.tenant_id)}
        foreign = [str(a) for a in agents_of(marts, other.tenant_id)]
        for url in ("/v1/metrics/costs", "/v1/metrics/errors"):
            body = ok(
                marts_api.get(url, params={**RANGE, "group_by": "agent"}, headers=reader.auth())
            )
            assert {i["agent_id"] for i in body["items"]} == own, url
            for agent_id in foreign:
                filtered = marts_api.get(
                    url, params={**RANGE, "agent_id": agent_id}, headers=reader.auth()
                )
                assert ok(filtered)["items"] == [], url
        total = mart(
            marts,
            "select sum(cost_usd) as cost from marts.cost_daily where tenant_id = %s",
            reader.tenant_id,
        )[0]["cost"]
        body = ok(marts_api.get("/v1/metrics/costs", params=RANGE, headers=reader.auth()))
        assert Decimal(body["cost_usd"]) == total


# before the first pipeline run


def test_before_the_warehouse_is_built_the_reads_say_so(servers, fresh_database):
    migrations.migrate(fresh_database.owner_url)
    with psycopg.connect(fresh_database.owner_url, autocommit=True) as conn:
        tenant_id = create_tenant(conn, "no-warehouse-yet")
        key = create_api_key(conn, tenant_id, scopes=["write"], name="w")
    urls = ServerUrls(fresh_database.owner_url, fresh_database.app_url, servers.redis.url())
    headers = {"Authorization": f"Bearer {key.key}"}
    with TestClient(create_app(load_settings({}), urls)) as client:
        agent = ok(client.post("/v1/agents", json={"name": "early"}, headers=headers), 201)
        sla = ok(
            client.post(
                "/v1/sla-definitions",
                json={"name": "early", "target_success_rate": 0.9},
                headers=headers,
            ),
            201,
        )
        for url in (
            f"/v1/agents/{agent['agent_id']}/metrics/daily",
            "/v1/metrics/errors",
            "/v1/metrics/costs",
            f"/v1/sla-definitions/{sla['sla_definition_id']}/compliance",
            "/v1/sla/reports?period=monthly",
        ):
            error = assert_error(client.get(url, headers=headers), 503, "warehouse_not_built")
            assert "pipeline" in error["message"], url
