"""The periodic detectors: spikes against the agent's own baseline as pure rules, and the
spike and budget detectors against the real Postgres (health rows, hourly rollups, budgets)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from meta_agent.alerting.detectors import budget_signals, spike_signals
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.alerting.spikes import Windows, spikes
from tests.alerting.conftest import Agent, run_with_db


def windows(**kw: Any) -> Windows:
    base: dict[str, Any] = {
        "executions_5m": 100,
        "failures_5m": 2,
        "latency_p95_ms_5m": 800.0,
        "cost_usd_5m": 1.0,
        "executions_1h": 1200,
        "failures_1h": 24,
        "latency_p95_ms_1h": 800.0,
        "cost_usd_1h": 12.0,
    }
    return Windows(**{**base, **kw})


def verdicts(w: Windows) -> dict[str, str]:
    return {s.alert_type: s.verdict for s in spikes(w)}


def test_a_steady_agent_clears_every_spike() -> None:
    assert verdicts(windows()) == {
        "error_rate_spike": "clear",
        "latency_spike": "clear",
        "cost_spike": "clear",
    }


def test_each_spike_fires_against_the_rest_of_the_hour() -> None:
    # 2 % the rest of the hour, 40 % now: a spike; 2 % → 5 % is not (under +10 points)
    assert verdicts(windows(failures_5m=40, failures_1h=62))["error_rate_spike"] == "fire"
    assert verdicts(windows(failures_5m=5, failures_1h=27)).get("error_rate_spike") != "fire"
    assert verdicts(windows(latency_p95_ms_5m=4000.0))["latency_spike"] == "fire"
    assert verdicts(windows(latency_p95_ms_5m=1700.0)).get("latency_spike") is None  # between
    assert verdicts(windows(cost_usd_5m=4.0, cost_usd_1h=15.0))["cost_spike"] == "fire"


def test_too_few_executions_say_nothing_and_a_zero_baseline_stays_finite() -> None:
    assert spikes(windows(executions_5m=10, executions_1h=1110)) == []
    assert spikes(windows(executions_1h=140)) == []  # 40 in the rest of the hour
    [error] = [
        s for s in spikes(windows(failures_5m=30, failures_1h=30)) if s.alert_type.startswith("e")
    ]
    assert error.verdict == "fire"
    assert json.dumps(error.details)  # a zero baseline must not put Infinity in JSON


def _partitions(owner: psycopg.Connection, now: dt.datetime) -> None:
    owner.execute(
        "select app.ensure_daily_partitions('raw.executions', %s, %s)",
        (now.date() - dt.timedelta(days=1), now.date() + dt.timedelta(days=1)),
    )


def test_the_spike_detector_reads_fresh_health_rows_only(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    now = dt.datetime.now(dt.UTC)
    spiking = make_agent()
    stale = make_agent(spiking.tenant_id, "stale-bot")
    _partitions(owner_conn, now)
    owner_conn.execute(
        "insert into raw.executions (execution_id, tenant_id, agent_id, started_at, status)"
        " values (%s, %s, %s, %s, 'success')",
        (uuid.uuid4(), spiking.tenant_id, spiking.agent_id, now - dt.timedelta(minutes=1)),
    )
    for agent, evaluated in ((spiking, now), (stale, now - dt.timedelta(minutes=5))):
        owner_conn.execute(
            "insert into agent_health_realtime (tenant_id, agent_id, state, state_since,"
            " executions_5m, failures_5m, executions_1h, failures_1h, cost_usd_5m, cost_usd_1h,"
            " evaluated_at, reason, version)"
            " values (%s, %s, 'degraded', %s, 100, 50, 1200, 70, 1, 12, %s, 'x', 1)",
            (agent.tenant_id, agent.agent_id, evaluated, evaluated),
        )
    signals = run_with_db(migrated_database.app_url, lambda db: spike_signals(db, now))
    mine = [s for s in signals if s.tenant_id == spiking.tenant_id]
    assert {(type(s).__name__, s.agent_id, s.alert_type) for s in mine} == {
        ("Fire", spiking.agent_id, "error_rate_spike"),
        ("Clear", spiking.agent_id, "cost_spike"),
    }


def test_a_spent_budget_fires_and_a_tenant_budget_sums_every_agent(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    now = dt.datetime.now(dt.UTC)
    first = make_agent()
    second = make_agent(first.tenant_id, "second-bot")
    _partitions(owner_conn, now)
    for agent, cost in ((first, "6.00"), (second, "5.00")):
        owner_conn.execute(
            "insert into raw.executions"
            " (execution_id, tenant_id, agent_id, started_at, status, cost_usd)"
            " values (%s, %s, %s, %s, 'success', %s)",
            (uuid.uuid4(), agent.tenant_id, agent.agent_id, now - dt.timedelta(seconds=5), cost),
        )
    for agent_id, period, amount in (
        (first.agent_id, "daily", 5),
        (first.agent_id, "monthly", 100),  # not spent: the agent's one alert still fires
        (second.agent_id, "daily", 10),
        (None, "monthly", 10),
    ):
        owner_conn.execute(
            "insert into cost_budgets (tenant_id, agent_id, period, amount_usd)"
            " values (%s, %s, %s, %s)",
            (first.tenant_id, agent_id, period, amount),
        )
    signals = run_with_db(migrated_database.app_url, lambda db: budget_signals(db, now))
    mine = {(type(s).__name__, s.agent_id): s for s in signals if s.tenant_id == first.tenant_id}
    assert len([s for s in signals if s.tenant_id == first.tenant_id]) == 3  # one per scope
    assert set(mine) == {("Fire", first.agent_id), ("Clear", second.agent_id), ("Fire", None)}
    agent_budget = mine[("Fire", first.agent_id)]
    assert isinstance(agent_budget, Fire)
    assert [b["period"] for b in agent_budget.details["budgets_exceeded"]] == ["daily"]
    tenant_wide = mine[("Fire", None)]
    assert isinstance(tenant_wide, Fire)
    assert tenant_wide.details["spent_usd"] == 11.0
    assert tenant_wide.details["period"] == "monthly"
    assert isinstance(mine[("Clear", second.agent_id)], Clear)
