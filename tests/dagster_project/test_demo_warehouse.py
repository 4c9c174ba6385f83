"""`make demo`'s warehouse part: the daily cycle over the simulated history with the SLAs the
simulator seeds finds the breaches the injected faults cause, and no others."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from meta_agent.connections import ServerUrls
from meta_agent.demo import _breach_table, _metrics_table, run_warehouse
from meta_agent.settings import Settings
from meta_agent.simulate import planned_faults
from meta_agent.simulate.sla import seed_sla_definitions
from tests.dagster_project.conftest import FLEET, Simulated

pytestmark = pytest.mark.integration


def test_the_demo_cycle_finds_the_breaches_the_injected_faults_cause(
    simulated: Simulated, tmp_path: Path
):
    settings = Settings(home=tmp_path / "home", database_url=SecretStr(simulated.db.owner_url))
    urls = ServerUrls(simulated.db.owner_url, simulated.db.app_url, "unix:///unused")
    report = run_warehouse(settings, urls, simulated.tenant_id, FLEET)
    assert report.success

    with psycopg.connect(simulated.db.owner_url) as conn:
        breaches = conn.execute(
            "select a.name, c.execution_date, c.breached_metrics"
            " from marts.sla_daily_compliance c join agents a using (tenant_id, agent_id)"
            " where not c.is_compliant order by 1, 2"
        ).fetchall()
        judged = conn.execute("select count(*) from marts.sla_daily_compliance").fetchone()
        # the seeding is done once: the tenant's SLAs are left alone afterwards
        assert seed_sla_definitions(conn, simulated.tenant_id, FLEET) == 0
        metrics = _metrics_table(conn, simulated.tenant_id)
        breach_table = _breach_table(conn, simulated.tenant_id)
    faulty_days = {(fault.agent, fault.started_at.date()) for fault in planned_faults(FLEET)}
    assert judged == (4 * len(FLEET.day_list),)  # every agent-day is judged
    # each fault breaks its agent's SLA on the day it starts, and nothing else does
    assert {(agent, day) for agent, day, _ in breaches} == faulty_days
    metrics_by_fault = {
        fault.kind: next(
            m for a, d, m in breaches if (a, d) == (fault.agent, fault.started_at.date())
        )
        for fault in planned_faults(FLEET)
    }
    assert "availability" in metrics_by_fault["external_api_outage"]
    assert "p95_latency" in metrics_by_fault["tool_timeout_storm"]
    assert "success_rate" in metrics_by_fault["prompt_regression"]
    assert metrics.row_count == 4
    assert breach_table.row_count == len(breaches)
