"""`meta_agent alerts …` against the real Postgres: list and show a tenant's alerts, and an
operator's acknowledgement and resolution, recorded as `cli:<login>` and notified."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from meta_agent import tenants
from meta_agent.cli import app
from meta_agent.settings import get_settings

runner = CliRunner()


@pytest.fixture
def tenant_alert(migrated_database: Any, monkeypatch) -> Iterator[tuple[str, str, str]]:
    """A tenant with a webhook channel and an open alert that was delivered to it."""
    monkeypatch.setenv("METAAGENT_DATABASE_URL", migrated_database.owner_url)
    monkeypatch.setenv("METAAGENT_APP_DATABASE_URL", migrated_database.app_url)
    get_settings.cache_clear()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        tenant_id = tenants.create_tenant(conn, name)
        agent_id = conn.execute(
            "insert into agents (tenant_id, name) values (%s, 'writer') returning agent_id",
            (tenant_id,),
        ).fetchone()[0]
        channel_id = conn.execute(
            "insert into notification_channels (tenant_id, kind, name, config, secret_env_var)"
            " values (%s, 'webhook', 'hook', '{\"url\": \"https://example.com/h\"}',"
            " 'METAAGENT_SECRET_HOOK') returning notification_channel_id",
            (tenant_id,),
        ).fetchone()[0]
        alert_id = conn.execute(
            "insert into alerts (tenant_id, agent_id, alert_type, severity, fingerprint, title,"
            " first_seen_at, last_seen_at, notified_at) values (%s, %s, 'error_rate_spike',"
            " 'critical', %s, 'writer fails', %s, %s, %s) returning alert_id",
            (tenant_id, agent_id, f"{agent_id}:error_rate_spike", at, at, at),
        ).fetchone()[0]
        conn.execute(
            "insert into alert_deliveries (tenant_id, alert_id, notification_channel_id,"
            " state_change, status, sent_at) values (%s, %s, %s, 'opened', 'sent', now())",
            (tenant_id, alert_id, channel_id),
        )
    yield name, str(alert_id), migrated_database.owner_url
    get_settings.cache_clear()


def test_list_show_ack_and_resolve(tenant_alert):
    tenant, alert_id, owner_url = tenant_alert
    listed = runner.invoke(app, ["alerts", "list", "--tenant", tenant, "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = [json.loads(line) for line in listed.output.strip().splitlines()]
    assert (row["alert_id"], row["status"], row["agent_name"]) == (alert_id, "open", "writer")

    acked = runner.invoke(app, ["alerts", "ack", alert_id, "--tenant", tenant])
    assert acked.exit_code == 0, acked.output
    assert "acknowledged; 1 notifications queued" in acked.output
    again = runner.invoke(app, ["alerts", "ack", alert_id, "--tenant", tenant])
    assert again.exit_code != 0
    assert "cannot acknowledge" in str(again.exception)

    resolved = runner.invoke(app, ["alerts", "resolve", alert_id, "--tenant", tenant])
    assert resolved.exit_code == 0, resolved.output
    shown = runner.invoke(app, ["alerts", "show", alert_id, "--tenant", tenant])
    assert shown.exit_code == 0, shown.output
    assert "writer fails  [critical, resolved]" in shown.output
    assert "acknowledged by cli:" in shown.output
    assert "resolved by cli:" in shown.output
    assert "hook (webhook): acknowledged pending" in shown.output

    assert runner.invoke(app, ["alerts", "list", "--tenant", tenant, "--json"]).output == ""
    done = runner.invoke(
        app, ["alerts", "list", "--tenant", tenant, "--status", "resolved", "--json"]
    )
    assert json.loads(done.output)["status"] == "resolved"
    with psycopg.connect(owner_url) as conn:
        changes = conn.execute(
            "select state_change from alert_deliveries where alert_id = %s order by created_at",
            (alert_id,),
        ).fetchall()
    assert [c for (c,) in changes] == ["opened", "acknowledged", "resolved"]


def test_unknown_alerts_and_statuses_are_refused(tenant_alert):
    tenant, _, _ = tenant_alert
    for args, message in (
        (["alerts", "ack", str(uuid.uuid4()), "--tenant", tenant], "has no alert"),
        (["alerts", "show", "nope", "--tenant", tenant], "not an alert id"),
        (["alerts", "list", "--tenant", tenant, "--status", "closed"], "unknown status"),
        (["alerts", "list", "--tenant", "no-such-tenant"], "no tenant named"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args
        assert message in str(result.exception or result.output), args
