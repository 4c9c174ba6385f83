"""Generic signed webhooks (n8n, Zapier, your own service): one JSON POST per notification.

Config: {"url": "https://n8n.example.com/webhook/metaagent" (required),
"headers": {"X-Team": "payments"} (optional, nothing secret), "min_severity": "info"}.
The secret is the HMAC signing secret (required). To rotate it, store the new and the old
secret separated by whitespace: every request then carries one `v1=` signature per secret
(see `signature.py` for the headers and the verifier).

The body, stable and flat (fields are only ever added):
    {
      "event": "alert.opened" | "alert.escalated" | "alert.repeated" | "alert.acknowledged"
               | "alert.resolved" | "alert.digest",
      "delivery_id": "<uuid>",          # the idempotency key: the same on every retry
      "tenant": {"id": "<uuid>", "name": "acme"},
      "state_change": "opened" | "escalated_warning" | ... | "digest",
      "at": "2025-01-31T12:00:00Z",     # when the state change happened (ISO 8601, UTC)
      "alert": {"alert_id", "alert_type", "severity", "status", "title", "summary",
                "agent_id", "agent_name", "labels", "details", "occurrence_count",
                "suppressed_since_last", "suppressed_total", "first_seen_at",
                "last_seen_at", "acknowledged_at", "acknowledged_by", "resolved_at",
                "resolved_by", "auto_resolved"} | null,    # null for the digest
      "digest": {"day", "opened", "resolved", "suppressed", "still_open", "by_severity",
                 "by_type", "alerts": [...]} | null,       # null except for the digest
      "links": {"alert": "https://...", "dagster": "https://..."}
    }

Any 2xx is delivered; 408, 409, 425, 429 and 5xx are retried; 410 and other 4xx are not.
Redirects are not followed (the signature is for the configured receiver only).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import Field, field_validator

from meta_agent.alerting.channels.base import (
    RETRYABLE_4XX,
    ChannelConfig,
    ConfiguredChannel,
    SendResult,
    body_excerpt,
    classify,
    http_url,
    request_once,
    secret_shaped,
)
from meta_agent.alerting.channels.signature import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    sign,
)
from meta_agent.alerting.notification import Notification

_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_RESERVED = {"host", "content-type", "content-length", "transfer-encoding", "connection"}
# a receiver that is busy with the same delivery id may answer 409; it is worth another try
WEBHOOK_RETRYABLE_4XX = RETRYABLE_4XX | {409}


class WebhookConfig(ChannelConfig):
    url: str
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        http_url(value)
        params = dict(httpx.URL(value).params)
        if secret_shaped(params, "url query"):
            raise ValueError("carries a secret-looking query parameter; sign requests instead")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name[:40]!r} is not a valid header name")
            if name.lower() in _RESERVED or name.lower().startswith("x-metaagent-"):
                raise ValueError(f"{name} is set by MetaAgent")
            if "\r" in text or "\n" in text or len(text) > 1000:
                raise ValueError(f"{name} has a value with a line break or over 1000 characters")
        return value


def payload(notification: Notification) -> dict[str, Any]:
    """The webhook body as a dict (see the module docstring)."""
    return {
        "event": notification.event,
        "delivery_id": str(notification.delivery_id),
        "tenant": {"id": str(notification.tenant_id), "name": notification.tenant_name},
        "state_change": notification.state_change,
        "at": notification.at.isoformat().replace("+00:00", "Z"),
        "alert": notification.alert.model_dump(mode="json") if notification.alert else None,
        "digest": notification.digest.model_dump(mode="json") if notification.digest else None,
        "links": dict(notification.links),
    }


def encode(notification: Notification) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps(payload(notification), separators=(",", ":"), ensure_ascii=False).encode()


class WebhookChannel(ConfiguredChannel[WebhookConfig]):
    kind = "webhook"
    config_model = WebhookConfig
    needs = "the signing secret"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    async def deliver(
        self,
        notification: Notification,
        parsed: WebhookConfig,
        secret: str,
        http: httpx.AsyncClient,
    ) -> SendResult:
        secrets = secret.split()  # the new and the old one while a secret is rotated
        body = encode(notification)
        headers = {
            **parsed.headers,
            "Content-Type": "application/json",
            "User-Agent": "MetaAgent-Webhooks/1",
            SIGNATURE_HEADER: sign(secrets, body, int(self._clock())),
            DELIVERY_HEADER: str(notification.delivery_id),
            EVENT_HEADER: notification.event,
        }
        response = await request_once(
            http, "POST", parsed.url, content=body, headers=headers, secrets=secrets
        )
        if isinstance(response, SendResult):
            return response
        return classify(
            response,
            error=body_excerpt(response) if response.status_code >= 300 else "",
            secrets=secrets,
            retryable_4xx=WEBHOOK_RETRYABLE_4XX,
        )
