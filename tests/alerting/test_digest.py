"""The daily digest counts a tenant's UTC day of alerts exactly as documented, and is queued
once per digest channel, however many times the day is run."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from meta_agent import migrations, tenants
from meta_agent.alerting.digest import build_digest, queue_digests
from meta_agent.alerting.notification import Notification
from meta_agent.alerting.outbox import Links
from meta_agent.db import Database
from meta_agent.embedded import EmbeddedServers
from tests import conftest as shared

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 3, 10)


def at(day_offset: int, hour: int) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour), tzinfo=dt.UTC) + dt.timedelta(days=day_offset)


@pytest.fixture(scope="module")
def database(servers: EmbeddedServers) -> Iterator[shared.TestDatabase]:
    db = shared._create_database(servers)
    migrations.migrate(db.owner_url)
    yield db
    shared._drop_database(servers, db)


def insert_alert(conn: psycopg.Connection[Any], tenant_id: uuid.UUID, **fields: Any) -> uuid.UUID:
    row = {
        "tenant_id": tenant_id,
        "fingerprint": uuid.uuid4().hex,
        "title": f"{fields['alert_type']} of {fields.get('agent_id')}",
        "last_seen_at": fields["first_seen_at"],
        **fields,
    }
    if row.get("resolved_at") is not None:
        row.update(status="resolved", auto_resolved=True)
    elif row.get("acknowledged_at") is not None:
        row.update(status="acknowledged")
    names = ", ".join(row)
    values = ", ".join(f"%({name})s" for name in row)
    found = conn.execute(
        f"insert into alerts ({names}) values ({values}) returning alert_id", row
    ).fetchone()
    assert found is not None
    return found[0]


def insert_agent(conn: psycopg.Connection[Any], tenant_id: uuid.UUID, name: str) -> uuid.UUID:
    found = conn.execute(
        "insert into agents (tenant_id, name) values (%s, %s) returning agent_id",
        (tenant_id, name),
    ).fetchone()
    assert found is not None
    return found[0]


def insert_channel(
    conn: psycopg.Connection[Any],
    tenant_id: uuid.UUID,
    name: str,
    *,
    supports_digest: bool,
    enabled: bool = True,
    rules: tuple[tuple[str, bool], ...] = (),  # (delivery_mode, rule enabled)
) -> uuid.UUID:
    found = conn.execute(
        "insert into notification_channels (tenant_id, kind, name, supports_digest, config,"
        " enabled) values (%s, 'webhook', %s, %s, %s, %s) returning notification_channel_id",
        (tenant_id, name, supports_digest, '{"url": "http://127.0.0.1:9/hook"}', enabled),
    ).fetchone()
    assert found is not None
    for mode, rule_enabled in rules:
        conn.execute(
            "insert into alert_routing_rules (tenant_id, notification_channel_id, delivery_mode,"
            " enabled) values (%s, %s, %s, %s)",
            (tenant_id, found[0], mode, rule_enabled),
        )
    return found[0]


@pytest.fixture(scope="module")
def day_of_alerts(database: shared.TestDatabase) -> dict[str, Any]:
    """A day with alerts opened, resolved, acknowledged and left open, alerts of the days
    around it that are not the day's, and another tenant's alert the same day."""
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        tenant = tenants.create_tenant(conn, "digested")
        other = tenants.create_tenant(conn, "other")
        writer = insert_agent(conn, tenant, "writer")
        ids = {
            # opened and resolved within the day
            "spike": insert_alert(
                conn, tenant, agent_id=writer, alert_type="error_rate_spike", severity="warning",
                first_seen_at=at(0, 1), last_seen_at=at(0, 2), resolved_at=at(0, 3),
                suppressed_count=2, occurrence_count=3,
            ),
            # opened in the day, still open now
            "critical": insert_alert(
                conn, tenant, agent_id=writer, alert_type="health_critical", severity="critical",
                first_seen_at=at(0, 5), suppressed_count=3, occurrence_count=4,
            ),
            # opened the day before, acknowledged in the day, resolved the day after
            "circuit": insert_alert(
                conn, tenant, agent_id=writer, alert_type="circuit_opened", severity="emergency",
                first_seen_at=at(-1, 20), last_seen_at=at(0, 9), acknowledged_at=at(0, 10),
                acknowledged_by="ops", resolved_at=at(1, 2), suppressed_count=1,
            ),
            # opened the day before, resolved in the day
            "silence": insert_alert(
                conn, tenant, agent_id=None, alert_type="silence", severity="info",
                first_seen_at=at(-1, 6), resolved_at=at(0, 12),
            ),
            # not the day's: resolved before it, opened after it
            "before": insert_alert(
                conn, tenant, agent_id=writer, alert_type="latency_spike", severity="warning",
                first_seen_at=at(-2, 1), resolved_at=at(-1, 23), suppressed_count=50,
            ),
            "after": insert_alert(
                conn, tenant, agent_id=writer, alert_type="cost_spike", severity="critical",
                first_seen_at=at(1, 0), suppressed_count=50,
            ),
        }  # fmt: skip
        insert_alert(
            conn, other, agent_id=None, alert_type="silence", severity="critical",
            first_seen_at=at(0, 4), suppressed_count=50,
        )  # fmt: skip
        channels = {
            "digest_flag": insert_channel(conn, tenant, "digest flag", supports_digest=True),
            "digest_rule": insert_channel(
                conn, tenant, "digest rule", supports_digest=False, rules=(("digest", True),)
            ),
            "disabled": insert_channel(
                conn, tenant, "disabled", supports_digest=True, enabled=False,
                rules=(("digest", True),),
            ),
            "immediate": insert_channel(
                conn, tenant, "immediate", supports_digest=False,
                rules=(("immediate", True), ("digest", False)),
            ),
        }  # fmt: skip
    return {"tenant": tenant, "ids": ids, "channels": channels, "writer": writer}


async def _build(url: str, tenant: uuid.UUID) -> Any:
    async with Database(url) as db, db.tenant_transaction(tenant) as conn:
        return await build_digest(conn, tenant_id=tenant, day=DAY)


@pytest.mark.parametrize("role", ["app", "owner"])
def test_the_digest_counts_the_days_alerts_as_documented(
    database: shared.TestDatabase, day_of_alerts: dict[str, Any], role: str
):
    url = database.app_url if role == "app" else database.owner_url
    digest = asyncio.run(_build(url, day_of_alerts["tenant"]))
    ids = day_of_alerts["ids"]
    assert digest.day == DAY
    assert digest.opened == 2  # spike, critical
    assert digest.resolved == 2  # spike, silence
    assert digest.still_open == 2  # critical, and circuit (resolved only the day after)
    assert digest.suppressed == 2 + 3 + 1 + 0  # the day's alerts' counts; not before/after
    assert digest.by_severity == {"emergency": 1, "critical": 1, "warning": 1, "info": 1}
    assert digest.by_type == {
        "circuit_opened": 1, "health_critical": 1, "error_rate_spike": 1, "silence": 1,
    }  # fmt: skip
    # most severe first; each as it stood at the day's end
    assert [a.alert_id for a in digest.alerts] == [
        ids["circuit"], ids["critical"], ids["spike"], ids["silence"],
    ]  # fmt: skip
    circuit, critical, spike, silence = digest.alerts
    assert (circuit.status, circuit.resolved_at) == ("acknowledged", None)
    assert (critical.status, critical.agent_name) == ("open", "writer")
    assert (spike.status, spike.resolved_at, spike.suppressed_count) == ("resolved", at(0, 3), 2)
    assert (silence.status, silence.agent_name) == ("resolved", None)


def test_a_quiet_day_is_a_digest_of_zeros(
    database: shared.TestDatabase, day_of_alerts: dict[str, Any]
):
    quiet = DAY - dt.timedelta(days=30)

    async def build() -> Any:
        tenant = day_of_alerts["tenant"]
        async with Database(database.app_url) as db, db.tenant_transaction(tenant) as conn:
            return await build_digest(conn, tenant_id=tenant, day=quiet)

    digest = asyncio.run(build())
    assert (digest.opened, digest.resolved, digest.still_open, digest.suppressed) == (0, 0, 0, 0)
    assert (digest.alerts, digest.by_type, digest.by_severity) == ([], {}, {})


def test_the_digest_is_queued_once_per_digest_channel_however_often_the_day_runs(
    database: shared.TestDatabase, day_of_alerts: dict[str, Any]
):
    tenant, channels = day_of_alerts["tenant"], day_of_alerts["channels"]
    links = Links(api_url="http://api.example/", dagster_url="http://dagster.example")
    made_at = at(1, 4)

    async def queue_twice() -> tuple[int, int]:
        async with Database(database.app_url) as db:
            first = await queue_digests(db, tenant_id=tenant, day=DAY, links=links, at=made_at)
            again = await queue_digests(db, tenant_id=tenant, day=DAY, links=links)
            return first, again

    assert asyncio.run(queue_twice()) == (2, 0)
    with psycopg.connect(database.owner_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "select * from alert_deliveries where tenant_id = %s and state_change = 'digest'",
            (tenant,),
        ).fetchall()
    # the flagged channel and the one with a digest rule; neither the disabled channel nor
    # the one whose only enabled rule is immediate
    assert {r["notification_channel_id"] for r in rows} == {
        channels["digest_flag"], channels["digest_rule"],
    }  # fmt: skip
    expected = asyncio.run(_build(database.owner_url, tenant))
    for row in rows:
        assert (row["alert_id"], row["digest_date"], row["status"]) == (None, DAY, "pending")
        assert row["next_attempt_at"] == made_at
        notification = Notification.model_validate(row["payload"])
        assert notification.delivery_id == row["alert_delivery_id"]
        assert (notification.state_change, notification.event) == ("digest", "alert.digest")
        assert notification.alert is None
        assert notification.digest == expected
        assert (notification.tenant_name, notification.at) == ("digested", made_at)
        assert notification.links == {
            "alerts": "http://api.example/v1/alerts", "dagster": "http://dagster.example",
        }  # fmt: skip


def test_a_tenant_without_digest_channels_queues_nothing(database: shared.TestDatabase):
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        tenant = tenants.create_tenant(conn, "no digest")
        insert_channel(conn, tenant, "pager", supports_digest=False, rules=(("immediate", True),))
        insert_channel(conn, tenant, "off", supports_digest=True, enabled=False)

    async def queue() -> int:
        async with Database(database.app_url) as db:
            return await queue_digests(db, tenant_id=tenant, day=DAY, links=Links())

    assert asyncio.run(queue()) == 0


def test_an_sla_alert_raised_after_its_day_opens_in_that_days_digest(database: shared.TestDatabase):
    # the warehouse judges DAY at 04:00 the next morning; its alert belongs to DAY's digest
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        tenant = tenants.create_tenant(conn, "judged late")
        agent = insert_agent(conn, tenant, "summariser")
        alert_id = insert_alert(
            conn, tenant, agent_id=agent, alert_type="sla_breached", severity="critical",
            first_seen_at=at(1, 4), labels=Jsonb({"source": "warehouse", "sla_day": str(DAY)}),
        )  # fmt: skip

    async def build(day: dt.date) -> Any:
        async with Database(database.app_url) as db, db.tenant_transaction(tenant) as conn:
            return await build_digest(conn, tenant_id=tenant, day=day)

    judged_day = asyncio.run(build(DAY))
    assert (judged_day.opened, judged_day.still_open) == (1, 1)
    assert [a.alert_id for a in judged_day.alerts] == [alert_id]
    assert judged_day.alerts[0].first_seen_at == at(1, 4)  # when it really was raised
    next_day = asyncio.run(build(DAY + dt.timedelta(days=1)))
    assert (next_day.opened, next_day.still_open, len(next_day.alerts)) == (0, 1, 1)
