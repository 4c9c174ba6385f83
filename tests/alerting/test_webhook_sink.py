"""The local webhook sink: verifies like a real receiver, records, counts, and can fail on purpose."""

from __future__ import annotations

import time

import httpx

from meta_agent.alerting.channels.signature import sign
from meta_agent.alerting.channels.webhook import encode
from meta_agent.alerting.webhook_sink import WebhookSink
from tests.alerting.channel_servers import make_notification

SECRET = "whsec_sink_test"


def post(
    sink: WebhookSink, *, secret: str = SECRET, at: float | None = None, note=None
) -> httpx.Response:
    note = note or make_notification()
    body = encode(note)
    headers = {
        "Content-Type": "application/json",
        "X-MetaAgent-Signature": sign(secret, body, int(at or time.time())),
        "X-MetaAgent-Delivery": str(note.delivery_id),
        "X-MetaAgent-Event": note.event,
    }
    return httpx.post(sink.url, content=body, headers=headers, timeout=5)


def test_a_good_request_is_recorded_as_verified():
    with WebhookSink(SECRET) as sink:
        note = make_notification("resolved")
        assert post(sink, note=note).status_code == 200
        [got] = sink.received
        assert (got.event, got.delivery_id, got.verified, got.duplicate) == (
            "alert.resolved",
            str(note.delivery_id),
            True,
            False,
        )
        assert got.body["alert"]["status"] == "resolved"
        assert got.received_at <= time.time()
        assert got.received_at_monotonic <= time.monotonic()


def test_bad_signatures_get_401_and_are_counted():
    with WebhookSink(SECRET) as sink:
        assert post(sink, secret="wrong").status_code == 401
        assert post(sink, at=time.time() - 3600).status_code == 401
        assert sink.rejected == 2
        assert [r.verified for r in sink.received] == [False, False]


def test_a_repeated_delivery_is_answered_200_and_counted_once_as_duplicate():
    with WebhookSink(SECRET) as sink:
        note = make_notification()
        assert [post(sink, note=note).status_code for _ in range(3)] == [200, 200, 200]
        assert sink.duplicates == 2
        assert [r.duplicate for r in sink.received] == [False, True, True]


def test_fail_next_answers_the_given_status_then_recovers():
    with WebhookSink(SECRET) as sink:
        sink.fail_next(2, 503)
        assert [post(sink).status_code for _ in range(3)] == [503, 503, 200]
        assert len(sink.received) == 1


def test_wait_for_returns_as_soon_as_it_holds_or_false_at_the_deadline():
    with WebhookSink(SECRET) as sink:
        started = time.monotonic()
        assert not sink.wait_for(lambda got: len(got) >= 1, timeout_s=0.2)
        assert time.monotonic() - started >= 0.2
        post(sink)
        assert sink.wait_for(lambda got: len(got) >= 1, timeout_s=5)


def test_stop_releases_the_port():
    sink = WebhookSink(SECRET).start()
    url = sink.url
    sink.stop()
    try:
        httpx.post(url, content=b"{}", timeout=1)
        reachable = True
    except httpx.TransportError:
        reachable = False
    assert not reachable
