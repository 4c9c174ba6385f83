"""The alerting assets through Dagster, for one partition on the real embedded Postgres: the
day's SLA breach becomes an alert, and the day's digest (holding it) reaches a signed webhook
receiver in the same run, once however often the partition is run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dagster as dg
import psycopg
import pytest

from dagster_project.alerting.definitions import definitions
from dagster_project.alerting.schedules import alerting_daily_job
from dagster_project.cycle import run_window
from meta_agent import migrations, tenants
from meta_agent.alerting.webhook_sink import WebhookSink
from meta_agent.settings import get_settings
from tests.alerting.test_sla_alerts import compliance, create_marts, insert_row

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 3, 10)
SECRET_VARIABLE = "METAAGENT_SECRET_TEST_ALERTING_ASSETS"
SECRET = "digest-signing-secret"


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    with WebhookSink(SECRET) as started:
        yield started


@pytest.fixture
def breached_day(fresh_database: Any, sink: WebhookSink, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A tenant with a webhook channel taking digests, and an agent that breached on DAY."""
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    get_settings.cache_clear()  # settings read in the run see this test's environment
    migrations.migrate(fresh_database.owner_url)
    with psycopg.connect(fresh_database.owner_url, autocommit=True) as conn:
        create_marts(conn, "sla_daily_compliance", "agent_error_distribution")
        tenant = tenants.create_tenant(conn, "alerted")
        agent = conn.execute(
            "insert into agents (tenant_id, name) values (%s, 'summariser') returning agent_id",
            (tenant,),
        ).fetchone()[0]  # type: ignore[index]
        insert_row(
            conn, "sla_daily_compliance",
            **compliance(
                tenant, agent, DAY, is_compliant=False, breached_metrics="p95_latency",
                primary_breached_metric="p95_latency", latency_p95_ms=4200.0,
                target_p95_latency_ms=2000.0, is_p95_latency_met=False,
            ),
        )  # fmt: skip
        conn.execute(
            "insert into notification_channels (tenant_id, kind, name, supports_digest, config,"
            " secret_env_var) values (%s, 'webhook', 'ops hook', true, %s, %s)",
            (tenant, f'{{"url": "{sink.url}"}}', SECRET_VARIABLE),
        )
    yield fresh_database
    get_settings.cache_clear()


def run_day(database_url: str) -> dict[str, dict[str, Any]]:
    """Materialise both alerting assets for DAY; each asset's materialisation metadata."""
    job = definitions(database_url).resolve_job_def(alerting_daily_job.name)
    result = job.execute_in_process(partition_key=DAY.isoformat())
    assert result.success
    return {
        event.asset_key.to_user_string(): {
            key: value.value
            for key, value in event.event_specific_data.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }


def test_a_days_run_raises_its_sla_alerts_and_delivers_its_digest_once(
    breached_day: Any, sink: WebhookSink
):
    with psycopg.connect(breached_day.owner_url, autocommit=True) as conn:
        # cleared an hour ago, with no realtime worker to resolve it
        conn.execute(
            "insert into alerts (tenant_id, alert_type, severity, fingerprint, title,"
            " first_seen_at, last_seen_at, clear_since) select tenant_id, 'silence', 'warning',"
            " 'tenant:silence', 'quiet', now() - interval '2 hours', now() - interval '2 hours',"
            " now() - interval '1 hour' from tenants"
        )
    first = run_day(breached_day.owner_url)
    assert first["alerting/sla_alerts"]["breached"] == 1
    assert first["alerting/sla_alerts"]["resolved_cleared"] == 1
    assert first["alerting/sla_alerts"]["per_tenant"] == {
        DAY.isoformat(): {
            "alerted": {
                "judged": 1, "breached": 1, "at_risk": 0, "opened": 1, "cleared": 0,
                "skipped": 0, "queued": 1,
            }
        }
    }  # fmt: skip
    digest_run = first["alerting/alert_digest"]
    assert digest_run["digests_queued"] == 1
    assert digest_run["per_tenant"] == {DAY.isoformat(): {"alerted": 1}}
    # the alert's own notification (a tenant without rules routes everything to every
    # channel) and the digest, in the run's one dispatch round
    assert (digest_run["sent"], digest_run["dead_lettered"]) == (2, 0)

    assert sink.wait_for(lambda got: len(got) >= 2, timeout_s=5)
    by_event = {r.event: r for r in sink.received}
    assert set(by_event) == {"alert.opened", "alert.digest"}
    assert all(r.verified and r.status == 200 for r in sink.received)
    digest = by_event["alert.digest"].body
    assert digest is not None
    assert digest["digest"]["day"] == DAY.isoformat()
    assert digest["digest"]["by_type"] == {"sla_breached": 1}
    [alert] = digest["digest"]["alerts"]
    assert (alert["alert_type"], alert["agent_name"]) == ("sla_breached", "summariser")

    # the partition again: the breach counts a repeat, the digest is not queued twice
    again = run_day(breached_day.owner_url)
    assert again["alerting/sla_alerts"]["opened"] == 0
    assert again["alerting/alert_digest"]["digests_queued"] == 0
    assert again["alerting/alert_digest"]["sent"] == 0
    assert len(sink.received) == 2


def test_the_alerting_assets_follow_the_compliance_mart(migrated_database: Any):
    graph = definitions(migrated_database.owner_url).resolve_asset_graph()
    sla = graph.get(dg.AssetKey(["alerting", "sla_alerts"]))
    assert dg.AssetKey(["marts", "sla_daily_compliance"]) in sla.parent_keys
    digest = graph.get(dg.AssetKey(["alerting", "alert_digest"]))
    assert digest.parent_keys == {sla.key}
    assert digest.partitions_def == sla.partitions_def


def test_a_range_is_one_run_that_handles_each_of_its_days(breached_day: Any, sink: WebhookSink):
    job = definitions(breached_day.owner_url).resolve_job_def(alerting_daily_job.name)
    report = run_window(job, DAY - dt.timedelta(days=1), DAY)
    assert report.success, report.failed_steps
    with psycopg.connect(breached_day.owner_url) as conn:
        digests = conn.execute(
            "select digest_date, status from alert_deliveries where state_change = 'digest'"
            " order by digest_date"
        ).fetchall()
    assert digests == [(DAY - dt.timedelta(days=1), "sent"), (DAY, "sent")]
    assert sink.wait_for(lambda got: len(got) >= 3, timeout_s=5)
