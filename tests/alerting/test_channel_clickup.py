"""ClickUp: serious alerts become tasks with the right priority, later state changes update the
same task, and each answer is classified."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import pytest

from meta_agent.alerting.channels import ChannelConfigError, channel_for
from tests.alerting.channel_servers import ClickUpServer, make_notification, send

clickup = channel_for("clickup")
TOKEN = "pk_1234567_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


@pytest.fixture
def server():
    with ClickUpServer(TOKEN) as s:
        yield s


@pytest.fixture
def config(server):
    return clickup.validate_config(
        {
            "list_id": server.list_id,
            "assignees": [183],
            "tags": ["metaagent"],
            "base_url": server.base_url,
        },
        has_secret=True,
    )


def test_only_critical_and_emergency_alerts_are_wanted_by_default(config):
    assert [
        clickup.wants(make_notification(severity=s), config)
        for s in ("info", "warning", "critical", "emergency")
    ] == [
        False,
        False,
        True,
        True,
    ]
    assert clickup.wants(
        make_notification(severity="warning"), {**config, "min_severity": "warning"}
    )


def test_an_opened_alert_creates_a_task(server, config):
    result = send(clickup, make_notification(severity="emergency"), config=config, secret=TOKEN)

    [task_id] = server.tasks
    assert (result.outcome, result.status_code, result.external_ref) == ("sent", 200, task_id)
    request = server.requests[0]
    assert request.headers["Authorization"] == TOKEN
    assert request.path == f"/api/v2/list/{server.list_id}/task"
    body = request.json
    assert body["name"] == "[EMERGENCY] Error rate 31% on checkout-bot (checkout-bot)"
    assert (body["priority"], body["assignees"], body["tags"]) == (1, [183], ["metaagent"])
    assert "- **Occurrences:** 5" in body["markdown_description"]
    assert "[Open alert](https://metaagent.example/v1/alerts/7)" in body["markdown_description"]


@pytest.mark.parametrize(
    ("severity", "priority"), [("emergency", 1), ("critical", 2), ("warning", 3), ("info", 4)]
)
def test_severity_maps_to_clickup_priority(server, config, severity, priority):
    send(clickup, make_notification(severity=severity), config=config, secret=TOKEN)
    assert server.requests[0].json["priority"] == priority


def test_resolving_closes_the_same_task(server, config):
    task_id = send(clickup, make_notification(), config=config, secret=TOKEN).external_ref
    resolved = make_notification("resolved").model_copy(update={"previous_ref": task_id})

    result = send(clickup, resolved, config={**config, "resolved_status": "done"}, secret=TOKEN)

    assert (result.outcome, result.external_ref) == ("sent", task_id)
    assert (server.requests[1].method, server.requests[1].path) == (
        "PUT",
        f"/api/v2/task/{task_id}",
    )
    assert server.tasks[task_id]["status"] == "done"
    assert len(server.tasks) == 1


def test_acknowledging_comments_on_the_task(server, config):
    task_id = send(clickup, make_notification(), config=config, secret=TOKEN).external_ref
    ack = make_notification("acknowledged").model_copy(update={"previous_ref": task_id})

    result = send(clickup, ack, config=config, secret=TOKEN)

    assert (result.outcome, result.external_ref) == ("sent", task_id)
    assert server.requests[1].json["notify_all"] is False
    assert server.comments[task_id][0].startswith("Acknowledged by dana@example.com")


def test_an_escalation_raises_the_priority_and_says_why(server, config):
    task_id = send(clickup, make_notification(), config=config, secret=TOKEN).external_ref
    escalated = make_notification("escalated_emergency", severity="emergency").model_copy(
        update={"previous_ref": task_id}
    )
    result = send(clickup, escalated, config=config, secret=TOKEN)
    assert (result.outcome, result.external_ref) == ("sent", task_id)
    assert server.tasks[task_id]["priority"] == 1
    assert "Escalated to EMERGENCY" in server.comments[task_id][0]


def test_a_state_change_without_a_task_creates_one(server, config):
    result = send(clickup, make_notification("escalated_critical"), config=config, secret=TOKEN)
    assert result.outcome == "sent"
    assert result.external_ref in server.tasks
    assert server.requests[0].path.endswith("/task")
    assert server.requests[0].method == "POST"


def test_a_deleted_task_is_permanent(server, config):
    gone = make_notification("resolved").model_copy(update={"previous_ref": "86cgone"})
    result = send(clickup, gone, config=config, secret=TOKEN)
    assert (result.outcome, result.status_code) == ("permanent", 404)
    assert "ITEM_013" in result.error


def test_a_bad_token_is_permanent_and_not_echoed(server, config):
    result = send(clickup, make_notification(), config=config, secret="pk_9_WRONGWRONGWRONGWRONG")
    assert (result.outcome, result.status_code) == ("permanent", 401)
    assert "OAUTH_025" in result.error
    assert "pk_" not in result.error


def test_a_rate_limit_waits_for_the_reset(server, config):
    server.script(
        429,
        {"err": "Rate limit reached", "ECODE": "APP_002"},
        headers={
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + 30),
        },
    )
    result = send(clickup, make_notification(), config=config, secret=TOKEN)
    assert result.outcome == "retry"
    assert 25 <= result.retry_after_s <= 31


def test_a_server_error_is_a_retry(server, config):
    server.script(503, {"err": "Service unavailable", "ECODE": "APP_500"})
    result = send(clickup, make_notification(), config=config, secret=TOKEN)
    assert (result.outcome, result.status_code) == ("retry", 503)


def test_the_digest_is_not_a_task(config):
    from meta_agent.alerting.notification import DigestSnapshot, Notification

    note = make_notification()
    digest = Notification(
        delivery_id=note.delivery_id,
        tenant_id=note.tenant_id,
        tenant_name="acme",
        state_change="digest",
        at=note.at,
        digest=DigestSnapshot(day=note.at.date(), opened=1, resolved=0, suppressed=0, still_open=1),
    )
    assert not clickup.wants(digest, config)


def test_config_needs_a_list_and_no_token_in_it():
    with pytest.raises(ChannelConfigError) as caught:
        clickup.validate_config(
            {"assignees": ["bob"], "token": "x", "note": TOKEN}, has_secret=False
        )
    problems = " | ".join(caught.value.problems)
    for expected in (
        "list_id: Field required",
        "assignees.0",
        "config.token",
        "config.note: looks like a secret",
        "secret: required",
    ):
        assert expected in problems
    assert TOKEN not in problems


def test_a_retried_creation_finds_the_task_whose_answer_was_lost(server, config):
    """ClickUp takes no idempotency key: a creation whose answer is lost (here a gateway's 502
    after the task was made) must not make a second task when it is tried again."""
    notification = make_notification()
    server.lose_next_creation = True
    first = send(clickup, notification, config=config, secret=TOKEN)
    assert first.outcome == "retry"
    [task_id] = server.tasks

    again = send(clickup, notification.model_copy(update={"attempt": 2}), config=config,
                 secret=TOKEN)  # fmt: skip
    assert (again.outcome, again.external_ref) == ("sent", task_id)
    assert list(server.tasks) == [task_id]
    assert [r.method for r in server.requests] == ["POST", "GET"]
    query = parse_qs(server.requests[1].path.partition("?")[2])
    assert (query["include_closed"], query["include_markdown_description"]) == (["true"], ["true"])


def test_a_retried_creation_with_no_task_made_creates_one(server, config):
    notification = make_notification()
    server.script(502, {"err": "Bad gateway", "ECODE": "GATEWAY_502"})  # nothing made
    assert send(clickup, notification, config=config, secret=TOKEN).outcome == "retry"
    assert server.tasks == {}

    again = send(clickup, notification.model_copy(update={"attempt": 2}), config=config,
                 secret=TOKEN)  # fmt: skip
    [task_id] = server.tasks
    assert (again.outcome, again.external_ref) == ("sent", task_id)
    assert [r.method for r in server.requests] == ["POST", "GET", "POST"]


def test_a_failed_lookup_is_tried_again_later_rather_than_risk_a_second_task(server, config):
    server.script(500, {"err": "Internal error", "ECODE": "APP_500"})
    notification = make_notification().model_copy(update={"attempt": 3})
    result = send(clickup, notification, config=config, secret=TOKEN)
    assert (result.outcome, result.status_code) == ("retry", 500)
    assert server.tasks == {}
    assert [r.method for r in server.requests] == ["GET"]
