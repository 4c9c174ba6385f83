"""The dashboard's landing numbers: agents by status, the last 24 hours, today's cost."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from tests.api.support import Tenant, create_agent, insert_execution, ok

pytestmark = pytest.mark.integration


def test_a_new_tenant_sees_zeros_and_no_success_rate(client: TestClient, tenant: Tenant):
    overview = ok(client.get("/v1/overview", headers=tenant.auth("read")))
    assert overview["agents"] == {"total": 0, "active": 0, "paused": 0, "archived": 0}
    assert (overview["executions_24h"], overview["failures_24h"]) == (0, 0)
    assert overview["success_rate_24h"] is None
    assert float(overview["cost_today_usd"]) == 0
    assert overview["as_of"]


def test_the_overview_counts_agents_by_status_and_the_last_day_of_executions(
    client: TestClient, tenant: Tenant, owner
):
    active = create_agent(client, tenant)
    paused = create_agent(client, tenant)
    archived = create_agent(client, tenant)
    ok(
        client.patch(
            f"/v1/agents/{paused['agent_id']}", json={"status": "paused"}, headers=tenant.auth()
        )
    )
    ok(client.post(f"/v1/agents/{archived['agent_id']}/archive", headers=tenant.auth()))
    now = dt.datetime.now(dt.UTC)
    # just now, so always inside both "the last 24 hours" and "today (UTC)"
    for status, cost in (
        ("success", "0.5"),
        ("failure", "0.25"),
        ("timeout", "0"),
        ("success", "1"),
    ):
        insert_execution(
            owner, tenant, active["agent_id"], status=status, cost_usd=cost,
            started_at=now - dt.timedelta(seconds=30),
        )  # fmt: skip
    # two days ago: in no window
    insert_execution(
        owner, tenant, active["agent_id"], status="failure", cost_usd="9",
        started_at=now - dt.timedelta(days=2),
    )  # fmt: skip

    overview = ok(client.get("/v1/overview", headers=tenant.auth("read")))
    assert overview["agents"] == {"total": 3, "active": 1, "paused": 1, "archived": 1}
    assert (overview["executions_24h"], overview["failures_24h"]) == (4, 2)
    assert overview["success_rate_24h"] == pytest.approx(0.5)
    assert float(overview["cost_today_usd"]) == pytest.approx(1.75)


def test_executions_in_the_future_are_not_counted(client: TestClient, tenant: Tenant, owner):
    agent = create_agent(client, tenant)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    insert_execution(owner, tenant, agent["agent_id"], started_at=later)
    assert ok(client.get("/v1/overview", headers=tenant.auth("read")))["executions_24h"] == 0
