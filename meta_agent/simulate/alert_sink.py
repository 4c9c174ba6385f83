"""The demo's alert channel: a local receiver of signed webhooks (`WebhookSink`) registered as
the demo tenant's webhook channel, its signing secret stored encrypted, so the realtime
worker's alerts travel the same path they take to Slack, SendGrid, ClickUp or n8n — routing,
the delivery outbox, the dispatcher, HMAC signing — and arrive here, where they are verified
and printed.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from meta_agent.alerting.secrets import encrypt_secret
from meta_agent.alerting.webhook_sink import Received, WebhookSink
from meta_agent.settings import Settings

CHANNEL = "demo-webhook-sink"
# the demo's breaker closes within seconds; its alert resolves 5 s after, not 5 min
DEMO_POLICY = {"resolve_after_s": 5}


@contextlib.contextmanager
def demo_alert_sink(
    conn: psycopg.Connection[Any], settings: Settings, tenant_id: uuid.UUID
) -> Iterator[WebhookSink]:
    """Start a sink and point the tenant's demo channel at it (created or updated: each run
    gets a new port and a new secret)."""
    secret = secrets.token_urlsafe(32)
    with WebhookSink(secret) as sink:
        conn.execute(
            "insert into notification_channels"
            " (tenant_id, kind, name, config, secret_ciphertext, created_by)"
            " values (%s, 'webhook', %s, %s, %s, 'make demo')"
            " on conflict (tenant_id, name) do update set config = excluded.config,"
            " secret_ciphertext = excluded.secret_ciphertext, secret_env_var = null,"
            " enabled = true",
            (tenant_id, CHANNEL, Jsonb({"url": sink.url}), encrypt_secret(secret, settings)),
        )
        conn.execute(
            "update tenants set settings = jsonb_set(settings, '{alerting}',"
            " coalesce(settings -> 'alerting', '{}') || %s) where tenant_id = %s",
            (Jsonb(DEMO_POLICY), tenant_id),
        )
        yield sink


def wait_for_resolution(sink: WebhookSink, alert_type: str, timeout_s: float) -> bool:
    """Whether the sink received the resolution of an alert of `alert_type` in time."""

    def resolved(got: list[Received]) -> bool:
        return any(
            r.event == "alert.resolved"
            and (r.body or {}).get("alert", {}).get("alert_type") == alert_type
            for r in got
        )

    return sink.wait_for(resolved, timeout_s)


def describe_received(sink: WebhookSink, began: float, say: Callable[[str], None]) -> None:
    """One line per webhook the sink received, in order."""
    for got in sink.received:
        alert = (got.body or {}).get("alert") or {}
        ok = "verified" if got.verified else "REJECTED"
        suppressed = alert.get("suppressed_since_last", 0)
        said = f", {suppressed} repeats suppressed" if suppressed else ""
        say(
            f"  t+{got.received_at_monotonic - began:5.1f} s  {got.event:19} "
            f"{alert.get('severity', ''):9} {alert.get('title', '')} "
            f"({alert.get('occurrence_count', 0)} occurrences{said}; {ok})"
        )
    if sink.duplicates or sink.rejected:
        say(f"  {sink.duplicates} duplicates, {sink.rejected} rejected")
