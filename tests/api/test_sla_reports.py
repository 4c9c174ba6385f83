"""SLA compliance and reports: the API serves the dbt-built marts, day by day and by period."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.api.support import (
    assert_error,
    ok,
)
from tests.api.test_metrics import RANGE, assert_same, mart
from tests.dbt.conftest import FIRST_DAY, LAST_DAY

pytestmark = pytest.mark.integration

URL = "/v1/sla-definitions"


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
