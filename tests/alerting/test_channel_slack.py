"""Slack: a valid Block Kit message within Slack's limits, and each answer classified."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from meta_agent.alerting.channels import ChannelConfigError, SendResult, channel_for
from meta_agent.alerting.notification import DigestAlert, DigestSnapshot, Notification
from tests.alerting.channel_servers import (
    T0,
    SlackServer,
    make_notification,
    refused_url,
    send,
    slack_block_problems,
)

slack = channel_for("slack")


@pytest.fixture
def server():
    with SlackServer() as s:
        yield s


def test_an_opened_alert_posts_blocks_slack_accepts(server):
    result = send(
        slack, make_notification(), config={"mention": "<!here>"}, secret=server.webhook_url
    )

    assert result == SendResult("sent", 200)
    body = server.requests[0].json
    assert slack_block_problems(body["blocks"]) == []
    assert body["text"].startswith("<!here> [CRITICAL] Error rate 31% on checkout-bot")
    header, *rest = body["blocks"]
    assert header["type"] == "header"
    assert ":rotating_light:" in header["text"]["text"]
    fields = next(b["fields"] for b in rest if "fields" in b)
    labels = [f["text"].split("\n")[0] for f in fields]
    assert labels[:6] == [
        "*Agent*",
        "*Type*",
        "*Severity*",
        "*Status*",
        "*First seen*",
        "*Occurrences*",
    ]
    text = str(body["blocks"])
    assert "error rate 31.0% &gt; 20.0%" in text, "the reason, escaped for mrkdwn"
    assert "Last 5 min: 100 executions, 31 failed (31.0% errors), p95 2,300 ms" in text
    assert "Top error: TimeoutError: upstream timed out (×22)" in text
    assert "4 repeats suppressed since the last notification" in text
    buttons = body["blocks"][-1]["elements"]
    assert [b["url"] for b in buttons] == [
        "https://metaagent.example/v1/alerts/7",
        "https://dagster.example/runs",
    ]


def test_the_mention_is_only_for_serious_openings(server):
    send(
        slack,
        make_notification(severity="warning"),
        config={"mention": "<!here>"},
        secret=server.webhook_url,
    )
    send(
        slack,
        make_notification("resolved"),
        config={"mention": "<!here>"},
        secret=server.webhook_url,
    )
    assert "<!here>" not in server.requests[0].body.decode()
    assert "<!here>" not in server.requests[1].body.decode()


def test_huge_alert_text_is_cut_to_block_kit_limits(server):
    note = make_notification(title="x" * 500, summary="<b>" * 2000, agent_name="a" * 3000)
    result = send(slack, note, config={}, secret=server.webhook_url)
    assert result.outcome == "sent", server.requests[0].json
    assert slack_block_problems(server.requests[0].json["blocks"]) == []


@pytest.mark.parametrize(
    ("state_change", "expected"),
    [
        ("resolved", ":white_check_mark: Resolved (recovered on its own)"),
        ("acknowledged", ":eyes: Acknowledged by dana@example.com"),
        ("repeated", ":rotating_light: Still firing [CRITICAL]"),
        ("escalated_emergency", ":fire: Escalated to EMERGENCY"),
    ],
)
def test_state_changes_have_their_own_headline(server, state_change, expected):
    severity = "emergency" if state_change == "escalated_emergency" else "critical"
    send(
        slack,
        make_notification(state_change, severity=severity),
        config={},
        secret=server.webhook_url,
    )
    assert server.requests[0].json["blocks"][0]["text"]["text"].startswith(expected)


def test_the_digest_lists_the_days_alerts_within_limits(server):
    alerts = [
        DigestAlert(
            alert_id=uuid.uuid4(),
            alert_type="latency_spike",
            severity="warning",
            status="resolved",
            title=f"p95 latency high on agent {i} " + "y" * 120,
            agent_name=f"agent-{i}",
            occurrence_count=3,
            suppressed_count=2,
            first_seen_at=T0,
        )
        for i in range(50)
    ]
    digest = DigestSnapshot(
        day=dt.date(2025, 3, 14),
        opened=50,
        resolved=50,
        suppressed=100,
        still_open=0,
        alerts=alerts,
    )
    note = Notification(
        delivery_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        tenant_name="acme",
        state_change="digest",
        at=T0,
        digest=digest,
    )
    assert send(slack, note, config={}, secret=server.webhook_url).outcome == "sent"
    body = server.requests[0].json
    assert slack_block_problems(body["blocks"]) == []
    assert "50 opened, 50 resolved, 0 still open, 100 repeats suppressed" in str(body["blocks"])
    assert "agent-49" in str(body["blocks"]), "every alert of the day is listed"


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (400, "invalid_blocks", "permanent"),
        (403, "action_prohibited", "permanent"),
        (404, "channel_not_found", "permanent"),
        (410, "channel_is_archived", "permanent"),
        (500, "rollup_error", "retry"),
        (503, "", "retry"),
    ],
)
def test_slack_errors_are_classified(server, status, body, outcome):
    server.script(status, body)
    result = send(slack, make_notification(), config={}, secret=server.webhook_url)
    assert (result.outcome, result.status_code) == (outcome, status)
    assert body in (result.error or "")
    assert "/services/" not in (result.error or ""), "the webhook URL is the secret"


def test_a_rate_limit_says_when_to_come_back(server):
    server.script(429, "rate_limited", headers={"Retry-After": "17"})
    result = send(slack, make_notification(), config={}, secret=server.webhook_url)
    assert (result.outcome, result.retry_after_s) == ("retry", 17.0)


def test_a_slow_slack_is_a_retry(server):
    server.script(200, "ok", delay_s=1.0)
    result = send(slack, make_notification(), config={}, secret=server.webhook_url, timeout_s=0.2)
    assert result.outcome == "retry"
    assert "timeout" in (result.error or "")


def test_nobody_listening_is_a_retry_and_the_url_stays_out_of_the_error():
    url = refused_url() + "/services/T0001/B0001/SECRETPART"
    result = send(slack, make_notification(), config={}, secret=url)
    assert result.outcome == "retry"
    assert "SECRETPART" not in (result.error or "")


def test_a_secret_that_is_not_a_url_is_permanent_and_not_echoed():
    result = send(slack, make_notification(), config={}, secret="xoxb-not-a-url")
    assert result.outcome == "permanent"
    assert "xoxb" not in (result.error or "")


def test_config_problems_are_all_listed():
    with pytest.raises(ChannelConfigError) as caught:
        slack.validate_config(
            {
                "mention": "@here",
                "min_severity": "loud",
                "webhook": "https://hooks.slack.com/services/T/B/X",
            },
            has_secret=False,
        )
    problems = " | ".join(caught.value.problems)
    assert "secret: required" in problems
    assert "mention" in problems
    assert "min_severity" in problems
    assert "config.webhook: looks like a secret" in problems
    assert "hooks.slack.com" not in problems, "the problem never repeats the secret"


def test_a_valid_config_is_normalized():
    assert slack.validate_config({"mention": "<!channel>"}, has_secret=True) == {
        "mention": "<!channel>",
        "mention_min_severity": "critical",
        "min_severity": "info",
    }


def test_min_severity_filters():
    assert slack.wants(make_notification(severity="warning"), {})
    assert not slack.wants(make_notification(severity="warning"), {"min_severity": "critical"})
