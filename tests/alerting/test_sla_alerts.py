"""SLA alerts from the warehouse: a breached day opens `sla_breached` with the numbers behind it,
an at-risk day `sla_at_risk`, a compliant day clears them; a day judged out of order leaves
alerts about later days alone.

The marts are made from their dbt contracts (`dbt/models/marts/_marts.yml`) and filled by
hand: what is tested here is reading them, not building them (tests/dbt does that)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from meta_agent import migrations, tenants
from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.sla_alerts import SlaAlertReport, raise_sla_alerts
from meta_agent.db import Database
from meta_agent.embedded import EmbeddedServers
from tests import conftest as shared

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 3, 10)
MARTS_YML = Path(__file__).resolve().parents[2] / "dbt" / "models" / "marts" / "_marts.yml"


def create_marts(conn: psycopg.Connection[Any], *names: str) -> None:
    """The marts `names`, empty, with the columns and types of their enforced contracts."""
    models = {m["name"]: m for m in yaml.safe_load(MARTS_YML.read_text())["models"]}
    conn.execute("create schema if not exists marts")
    for name in names:
        columns = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c["name"]), sql.SQL(c["data_type"]))
            for c in models[name]["columns"]
        )
        conn.execute(sql.SQL("create table marts.{} ({})").format(sql.Identifier(name), columns))


def insert_row(conn: psycopg.Connection[Any], table: str, **values: Any) -> None:
    conn.execute(
        sql.SQL("insert into marts.{} ({}) values ({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
        ),
        list(values.values()),
    )


def compliance(
    tenant_id: uuid.UUID, agent_id: uuid.UUID, day: dt.date, **values: Any
) -> dict[str, Any]:
    """A day of `sla_daily_compliance`: 1,000 decided executions against a 99 % SLA."""
    return {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "execution_date": day,
        "sla_definition_id": uuid.uuid4(),
        "sla_name": "gold",
        "sla_period": "daily",
        "is_tenant_wide_sla": False,
        "execution_count": 1000,
        "decided_execution_count": 1000,
        "failure_count": 2,
        "success_rate": 0.998,
        "target_success_rate": 0.99,
        "is_success_rate_met": True,
        "availability": 0.999,
        "target_availability": 0.99,
        "is_availability_met": True,
        "error_budget": 0.01,
        "error_budget_consumed": 0.2,
        "is_compliant": True,
        "is_at_risk": False,
        "is_error_budget_exhausted": False,
        **values,
    }


def insert_agent(conn: psycopg.Connection[Any], tenant_id: uuid.UUID, name: str) -> uuid.UUID:
    found = conn.execute(
        "insert into agents (tenant_id, name) values (%s, %s) returning agent_id",
        (tenant_id, name),
    ).fetchone()
    assert found is not None
    return found[0]


def open_alert(
    conn: psycopg.Connection[Any],
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    alert_type: str,
    *,
    source: str,
    details: dict[str, Any],
    last_seen_at: dt.datetime,
) -> uuid.UUID:
    """An unresolved alert as the engine leaves one (fingerprint agent:type)."""
    found = conn.execute(
        "insert into alerts (tenant_id, agent_id, alert_type, severity, fingerprint, title,"
        " labels, details, first_seen_at, last_seen_at) values"
        " (%s, %s, %s, 'warning', %s, 'standing', %s, %s, %s, %s) returning alert_id",
        (
            tenant_id, agent_id, alert_type, f"{agent_id}:{alert_type}",
            Jsonb({"source": source}), Jsonb(details), last_seen_at, last_seen_at,
        ),
    ).fetchone()  # fmt: skip
    assert found is not None
    return found[0]


@pytest.fixture(scope="module")
def database(servers: EmbeddedServers) -> Iterator[shared.TestDatabase]:
    db = shared._create_database(servers)
    migrations.migrate(db.owner_url)
    with psycopg.connect(db.owner_url, autocommit=True) as conn:
        create_marts(conn, "sla_daily_compliance", "agent_error_distribution")
    yield db
    shared._drop_database(servers, db)


@pytest.fixture(scope="module")
def judged(database: shared.TestDatabase) -> dict[str, Any]:
    """One tenant's agents on DAY: one breached, one at risk, one healthy with SLA alerts
    still open from the day before (one raised here, one by the realtime burn rates), and
    one healthy whose open breach is about the day after (a backfill judges DAY late)."""
    yesterday = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC) - dt.timedelta(hours=3)
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        tenant = tenants.create_tenant(conn, "sla")
        agents = {name: insert_agent(conn, tenant, name) for name in ("b", "r", "h", "n")}
        rows = [
            compliance(
                tenant, agents["b"], DAY, failure_count=90, success_rate=0.91,
                is_success_rate_met=False, availability=0.9, is_availability_met=False,
                error_budget_consumed=9.0, is_at_risk=True, is_error_budget_exhausted=True,
                is_compliant=False, breached_metrics="availability,success_rate",
                primary_breached_metric="availability",
                breach_top_failure_category="timeout", breach_top_failure_category_count=60,
            ),
            compliance(
                tenant, agents["r"], DAY, failure_count=9, success_rate=0.991,
                error_budget_consumed=0.9, is_at_risk=True,
            ),
            compliance(tenant, agents["h"], DAY),
            compliance(tenant, agents["n"], DAY),
            # another day of the breached agent: not DAY's business
            compliance(tenant, agents["b"], DAY - dt.timedelta(days=1)),
        ]  # fmt: skip
        for row in rows:
            insert_row(conn, "sla_daily_compliance", **row)
        for agent, category, failures in (
            ("b", "timeout", 60), ("b", "tool_error", 30), ("r", "rate_limit", 5),
            ("r", "timeout", 4), ("h", "timeout", 0),
        ):  # fmt: skip
            insert_row(
                conn, "agent_error_distribution", tenant_id=tenant, agent_id=agents[agent],
                execution_date=DAY, error_type=category, cause_category=category,
                failure_count=failures,
            )  # fmt: skip
        standing = {
            "h_breach": open_alert(
                conn, tenant, agents["h"], "sla_breached", source="warehouse",
                details={"day": (DAY - dt.timedelta(days=1)).isoformat()},
                last_seen_at=yesterday,
            ),
            "h_at_risk": open_alert(
                conn, tenant, agents["h"], "sla_at_risk", source="realtime",
                details={"burn_rate": 2.0}, last_seen_at=yesterday,
            ),
            "n_breach": open_alert(
                conn, tenant, agents["n"], "sla_breached", source="warehouse",
                details={"day": (DAY + dt.timedelta(days=1)).isoformat()},
                last_seen_at=yesterday + dt.timedelta(days=2),
            ),
        }  # fmt: skip
    raised_at = dt.datetime.now(dt.UTC).replace(microsecond=0)

    async def run() -> SlaAlertReport:
        # the engine as the API's role, the mart read as the owner's: as it runs in Dagster
        async with Database(database.app_url) as app, Database(database.owner_url) as owner:
            return await raise_sla_alerts(AlertEngine(app), owner, day=DAY, at=raised_at)

    report = asyncio.run(run())
    return {
        "tenant": tenant, "agents": agents, "standing": standing, "report": report,
        "raised_at": raised_at,
    }  # fmt: skip


def alerts_of(url: str, agent_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("select * from alerts where agent_id = %s", (agent_id,)).fetchall()
    return {row["alert_type"]: row for row in rows}


def test_a_breached_day_opens_sla_breached_with_the_numbers_behind_it(
    database: shared.TestDatabase, judged: dict[str, Any]
):
    alerts = alerts_of(database.owner_url, judged["agents"]["b"])
    assert set(alerts) == {"sla_breached"}  # not sla_at_risk as well
    alert = alerts["sla_breached"]
    assert (alert["severity"], alert["status"]) == ("critical", "open")
    # raised now, about DAY
    assert alert["first_seen_at"] == judged["raised_at"]
    assert alert["labels"]["sla_day"] == DAY.isoformat()
    assert alert["labels"]["source"] == "warehouse"
    details = alert["details"]
    assert details["day"] == DAY.isoformat()
    assert (details["metric"], details["measured_value"], details["target"]) == (
        "availability", 0.9, 0.99,
    )  # fmt: skip
    assert details["breached_metrics"] == ["availability", "success_rate"]
    assert details["error_budget_consumed"] == 9.0
    assert details["error_budget_exhausted"] is True
    assert (details["top_error_category"], details["top_error_category_count"]) == ("timeout", 60)
    assert alert["title"] == f"SLA breached: b missed its availability target on {DAY}"


def test_an_at_risk_day_opens_sla_at_risk_with_its_budget(
    database: shared.TestDatabase, judged: dict[str, Any]
):
    alerts = alerts_of(database.owner_url, judged["agents"]["r"])
    assert set(alerts) == {"sla_at_risk"}
    details = alerts["sla_at_risk"]["details"]
    assert alerts["sla_at_risk"]["severity"] == "warning"
    assert (details["metric"], details["measured_value"], details["target"]) == (
        "error_budget", 0.9, 1.0,
    )  # fmt: skip
    assert (details["error_budget_consumed"], details["at_risk_from"]) == (0.9, 0.8)
    assert details["breached_metrics"] == []
    assert details["top_error_category"] == "rate_limit"


def test_a_compliant_day_clears_both_sla_alerts_but_not_one_about_a_later_day(
    database: shared.TestDatabase, judged: dict[str, Any]
):
    healthy = alerts_of(database.owner_url, judged["agents"]["h"])
    assert set(healthy) == {"sla_breached", "sla_at_risk"}  # no new alert
    for alert in healthy.values():
        # clear, resolving itself after the tenant's resolve_after (5 minutes by default)
        assert alert["clear_since"] == judged["raised_at"]
        assert alert["status"] == "open"
    later = alerts_of(database.owner_url, judged["agents"]["n"])["sla_breached"]
    assert later["clear_since"] is None
    counts = judged["report"].tenants[judged["tenant"]]
    assert vars(counts) == {
        "judged": 4, "breached": 1, "at_risk": 1, "opened": 2, "cleared": 2, "skipped": 0,
        "queued": 0,
    }  # fmt: skip


def test_judging_the_day_again_counts_repeats_and_opens_nothing_new(
    database: shared.TestDatabase, judged: dict[str, Any]
):
    async def again() -> SlaAlertReport:
        async with Database(database.owner_url) as owner:
            return await raise_sla_alerts(AlertEngine(owner), owner, day=DAY)

    counts = asyncio.run(again()).tenants[judged["tenant"]]
    assert (counts.breached, counts.at_risk, counts.opened) == (1, 1, 0)
    breach = alerts_of(database.owner_url, judged["agents"]["b"])["sla_breached"]
    assert breach["occurrence_count"] == 2
    # within the dedup window: counted, not sent again
    assert breach["suppressed_count"] == 1


def test_a_backfilled_earlier_day_leaves_the_alert_about_a_later_day_alone(
    database: shared.TestDatabase, judged: dict[str, Any]
):
    # the breached agent was compliant the day before DAY; judging that day late must not
    # clear the breach of DAY
    async def backfill() -> SlaAlertReport:
        async with Database(database.owner_url) as owner:
            return await raise_sla_alerts(AlertEngine(owner), owner, day=DAY - dt.timedelta(days=1))

    counts = asyncio.run(backfill()).tenants[judged["tenant"]]
    assert (counts.judged, counts.cleared) == (1, 0)
    breach = alerts_of(database.owner_url, judged["agents"]["b"])["sla_breached"]
    assert (breach["clear_since"], breach["details"]["day"]) == (None, DAY.isoformat())
