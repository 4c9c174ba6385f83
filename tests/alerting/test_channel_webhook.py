"""Generic webhooks: the documented body, signed so the documented verifier accepts it once."""

from __future__ import annotations

import json
import time

import pytest

from meta_agent.alerting.channels import ChannelConfigError, channel_for
from meta_agent.alerting.channels.signature import (
    InvalidSignature,
    ReplayedDelivery,
    SignatureVerifier,
)
from meta_agent.alerting.channels.webhook import WebhookChannel
from meta_agent.alerting.webhook_sink import WebhookSink
from tests.alerting.channel_servers import (
    ProviderServer,
    Recorded,
    make_notification,
    refused_url,
    send,
)

webhook = channel_for("webhook")
SECRET = "whsec_test_0123456789"


class Receiver(ProviderServer):
    def respond(self, request: Recorded):
        return 204, {}, b""


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def test_the_body_has_the_documented_shape_and_verifies(receiver):
    note = make_notification()
    config = webhook.validate_config(
        {"url": receiver.base_url + "/hook", "headers": {"X-Team": "payments"}}, has_secret=True
    )

    result = send(webhook, note, config=config, secret=SECRET)

    assert (result.outcome, result.status_code) == ("sent", 204)
    request = receiver.requests[0]
    body = json.loads(request.body)
    assert set(body) == {
        "event",
        "delivery_id",
        "tenant",
        "state_change",
        "at",
        "alert",
        "digest",
        "links",
    }
    assert body["event"] == "alert.opened"
    assert body["state_change"] == "opened"
    assert body["delivery_id"] == str(note.delivery_id)
    assert body["tenant"] == {"id": str(note.tenant_id), "name": "acme"}
    assert body["at"] == "2025-03-14T09:27:00Z"
    assert body["alert"]["severity"] == "critical"
    assert body["alert"]["suppressed_since_last"] == 4
    assert body["digest"] is None
    assert body["links"]["alert"].endswith("/alerts/7")
    headers = request.headers
    assert headers["X-MetaAgent-Event"] == "alert.opened"
    assert headers["X-MetaAgent-Delivery"] == str(note.delivery_id)
    assert headers["X-Team"] == "payments"
    v = SignatureVerifier(SECRET)
    v.verify(headers["X-MetaAgent-Signature"], request.body, headers["X-MetaAgent-Delivery"])
    with pytest.raises(ReplayedDelivery):
        v.verify(headers["X-MetaAgent-Signature"], request.body, headers["X-MetaAgent-Delivery"])


def test_a_request_signed_long_ago_is_rejected_by_the_verifier(receiver):
    stale = WebhookChannel(clock=lambda: time.time() - 3600)
    send(stale, make_notification(), config={"url": receiver.base_url}, secret=SECRET)
    request = receiver.requests[0]
    with pytest.raises(InvalidSignature, match="tolerance"):
        SignatureVerifier(SECRET).verify(
            request.headers["X-MetaAgent-Signature"],
            request.body,
            request.headers["X-MetaAgent-Delivery"],
        )


def test_a_rotating_secret_signs_with_each(receiver):
    send(
        webhook,
        make_notification(),
        config={"url": receiver.base_url},
        secret="new-secret old-secret",
    )
    request = receiver.requests[0]
    for secret in ("new-secret", "old-secret"):
        SignatureVerifier(secret).verify(
            request.headers["X-MetaAgent-Signature"],
            request.body,
            request.headers["X-MetaAgent-Delivery"],
        )


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "sent"),
        (202, "sent"),
        (301, "permanent"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (408, "retry"),
        (409, "retry"),
        (410, "permanent"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_receiver_answers_are_classified(receiver, status, outcome):
    receiver.script(
        status, "nope" if status >= 300 else "", headers={"Location": "https://elsewhere.example/"}
    )
    result = send(webhook, make_notification(), config={"url": receiver.base_url}, secret=SECRET)
    assert (result.outcome, result.status_code) == (outcome, status)
    assert len(receiver.requests) == 1, "one request per send, redirects not followed"


def test_retry_after_as_an_http_date_is_honoured(receiver):
    from email.utils import formatdate

    receiver.script(
        503, "busy", headers={"Retry-After": formatdate(time.time() + 120, usegmt=True)}
    )
    result = send(webhook, make_notification(), config={"url": receiver.base_url}, secret=SECRET)
    assert result.outcome == "retry"
    assert 115 <= result.retry_after_s <= 121


def test_a_timeout_and_a_refused_connection_are_retries(receiver):
    receiver.script(200, delay_s=1.0)
    slow = send(
        webhook,
        make_notification(),
        config={"url": receiver.base_url},
        secret=SECRET,
        timeout_s=0.2,
    )
    refused = send(webhook, make_notification(), config={"url": refused_url()}, secret=SECRET)
    assert (slow.outcome, refused.outcome) == ("retry", "retry")
    assert SECRET not in (slow.error or "") + (refused.error or "")


def test_the_secret_never_reaches_the_error_even_if_the_receiver_echoes_it(receiver):
    receiver.script(400, f"bad signature, expected secret {SECRET}")
    result = send(webhook, make_notification(), config={"url": receiver.base_url}, secret=SECRET)
    assert result.outcome == "permanent"
    assert SECRET not in result.error


def test_the_webhook_sink_accepts_the_channel_and_counts_a_duplicate():
    with WebhookSink(SECRET) as sink:
        note = make_notification()
        first = send(webhook, note, config={"url": sink.url}, secret=SECRET)
        again = send(webhook, note, config={"url": sink.url}, secret=SECRET)
        assert (first.outcome, again.outcome) == ("sent", "sent")
        assert sink.wait_for(lambda got: len(got) == 2, timeout_s=5)
        assert [r.verified for r in sink.received] == [True, True]
        assert (sink.duplicates, sink.rejected) == (1, 0)


def test_config_problems_are_all_listed():
    with pytest.raises(ChannelConfigError) as caught:
        webhook.validate_config(
            {
                "url": "https://user:pw@n8n.example/hook?token=abc",
                "headers": {
                    "Content-Type": "text/plain",
                    "Bad Name": "x",
                    "Authorization": "Bearer x",
                },
            },
            has_secret=False,
        )
    problems = " | ".join(caught.value.problems)
    for expected in (
        "secret: required",
        "url: Value error, url must not carry credentials",
        "config.headers.Authorization",
    ):
        assert expected in problems, problems
    with pytest.raises(ChannelConfigError, match="secret-looking query"):
        webhook.validate_config({"url": "https://n8n.example/hook?api_key=abc"}, has_secret=True)
    with pytest.raises(ChannelConfigError, match="set by MetaAgent"):
        webhook.validate_config(
            {"url": "https://n8n.example/hook", "headers": {"X-MetaAgent-Event": "x"}},
            has_secret=True,
        )
    with pytest.raises(ChannelConfigError, match="http"):
        webhook.validate_config({"url": "file:///etc/passwd"}, has_secret=True)
