"""E-mail through SendGrid: a request SendGrid accepts, escaped HTML, and each answer classified."""

from __future__ import annotations

import time

import pytest

from meta_agent.alerting.channels import ChannelConfigError, channel_for
from tests.alerting.channel_servers import SendGridServer, make_notification, refused_url, send

email = channel_for("email")
API_KEY = "SG.test-key.abcdefghijklmnop"


@pytest.fixture
def server():
    with SendGridServer(API_KEY) as s:
        yield s


@pytest.fixture
def config(server):
    return email.validate_config(
        {
            "to": ["oncall@example.com", "dana@example.com"],
            "from_email": "alerts@example.com",
            "from_name": "MetaAgent",
            "base_url": server.base_url,
        },
        has_secret=True,
    )


def test_an_alert_becomes_a_mail_sendgrid_accepts(server, config):
    note = make_notification()
    result = send(email, note, config=config, secret=API_KEY)

    assert (result.outcome, result.status_code) == ("sent", 202)
    assert result.external_ref == server.message_ids[0]
    request = server.requests[0]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    body = request.json
    assert SendGridServer.problem(body) is None
    assert body["personalizations"] == [
        {"to": [{"email": "oncall@example.com"}, {"email": "dana@example.com"}]}
    ]
    assert body["from"] == {"email": "alerts@example.com", "name": "MetaAgent"}
    assert body["subject"] == "[MetaAgent] [CRITICAL] Error rate 31% on checkout-bot (checkout-bot)"
    assert body["custom_args"] == {
        "delivery_id": str(note.delivery_id),
        "event": "alert.opened",
        "alert_id": str(note.alert.alert_id),
    }
    text, html = body["content"]
    assert "error rate 31.0% > 20.0% (critical) over 5 min" in text["value"]
    assert "4 repeats suppressed since the last notification" in text["value"]
    assert '<a href="https://metaagent.example/v1/alerts/7">Open alert</a>' in html["value"]


def test_alert_text_is_escaped_in_the_html_part(server, config):
    note = make_notification(title="<script>alert(1)</script>", summary='"quoted" & <b>bold</b>')
    send(email, note, config=config, secret=API_KEY)
    html = server.requests[0].json["content"][1]["value"]
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_a_title_with_a_newline_stays_one_subject_line(server, config):
    send(email, make_notification(title="first\nsecond"), config=config, secret=API_KEY)
    assert "\n" not in server.requests[0].json["subject"]


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (
            400,
            {"errors": [{"message": "Does not contain a valid address.", "field": "from.email"}]},
            "permanent",
        ),
        (
            403,
            {
                "errors": [
                    {
                        "message": "The from address does not match a verified Sender Identity.",
                        "field": "from",
                    }
                ]
            },
            "permanent",
        ),
        (413, {"errors": [{"message": "Payload too large", "field": None}]}, "permanent"),
        (500, {"errors": [{"message": "internal error", "field": None}]}, "retry"),
        (502, "<html>bad gateway</html>", "retry"),
    ],
)
def test_sendgrid_errors_are_classified_with_their_message(server, config, status, body, outcome):
    server.script(status, body)
    result = send(email, make_notification(), config=config, secret=API_KEY)
    assert (result.outcome, result.status_code) == (outcome, status)
    assert result.error.startswith(f"HTTP {status}")
    if isinstance(body, dict):
        assert body["errors"][0]["message"] in result.error


def test_a_wrong_key_is_permanent_and_the_key_is_not_in_the_error(server, config):
    result = send(email, make_notification(), config=config, secret="SG.wrong-key")
    assert (result.outcome, result.status_code) == ("permanent", 401)
    assert "SG." not in result.error


def test_a_rate_limit_prefers_retry_after(server, config):
    server.script(
        429,
        {"errors": [{"message": "too many requests", "field": None}]},
        headers={"Retry-After": "12", "X-RateLimit-Reset": str(int(time.time()) + 600)},
    )
    result = send(email, make_notification(), config=config, secret=API_KEY)
    assert (result.outcome, result.retry_after_s) == ("retry", 12.0)


def test_a_rate_limit_without_retry_after_waits_for_the_reset(server, config):
    server.script(
        429,
        {"errors": [{"message": "too many requests", "field": None}]},
        headers={"X-RateLimit-Reset": str(int(time.time()) + 60)},
    )
    result = send(email, make_notification(), config=config, secret=API_KEY)
    assert result.outcome == "retry"
    assert 55 <= result.retry_after_s <= 61


def test_an_unreachable_sendgrid_is_a_retry(config):
    result = send(
        email, make_notification(), config={**config, "base_url": refused_url()}, secret=API_KEY
    )
    assert result.outcome == "retry"
    assert result.status_code is None


def test_config_problems_are_all_listed():
    with pytest.raises(ChannelConfigError) as caught:
        email.validate_config(
            {"to": ["not-an-address"], "base_url": "ftp://x", "api_key": "SG.x"}, has_secret=False
        )
    problems = " | ".join(caught.value.problems)
    for expected in (
        "secret: required",
        "to: ",
        "from_email: Field required",
        "base_url",
        "config.api_key",
    ):
        assert expected in problems


def test_no_recipients_is_a_config_error():
    with pytest.raises(ChannelConfigError, match="to"):
        email.validate_config({"to": [], "from_email": "a@example.com"}, has_secret=True)
