"""E-mail through SendGrid's v3 Mail Send API: one message per notification, plain text and HTML.

Config: {"to": ["oncall@example.com", ...], "from_email": "alerts@example.com",
"from_name": "MetaAgent" (optional), "subject_prefix": "[MetaAgent]" (default),
"base_url": "https://api.sendgrid.com" (default; tests point it at a local server),
"min_severity": "info" (default)}. The secret is the SendGrid API key.

SendGrid answers 202 with the message id in `X-Message-Id` (our `external_ref`); 400 (with
`{"errors": [{"message", "field"}]}`), 401, 403 and 413 are permanent; 429 (Retry-After, else
the `X-RateLimit-Reset` epoch) and 5xx are worth another try.
"""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
from pydantic import Field, field_validator

from meta_agent.alerting.channels import render
from meta_agent.alerting.channels.base import (
    ChannelConfig,
    ConfiguredChannel,
    SendResult,
    body_excerpt,
    classify,
    http_url,
    request_once,
)
from meta_agent.alerting.notification import Notification

# deliberately loose: SendGrid is the judge; this only catches a name or a list pasted wrongly
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
SUBJECT_MAX = 200


def _address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.fullmatch(value):
        raise ValueError(f"not an e-mail address: {value[:80]!r}")
    return value


class EmailConfig(ChannelConfig):
    to: list[str] = Field(min_length=1, max_length=100)
    from_email: str
    from_name: str | None = Field(default=None, max_length=100)
    subject_prefix: str = Field(default="[MetaAgent]", max_length=50)
    base_url: str = "https://api.sendgrid.com"

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        addresses = [_address(v) for v in value]
        if len({a.lower() for a in addresses}) != len(addresses):
            # SendGrid rejects a personalization that names one address twice
            raise ValueError("lists an address twice")
        return addresses

    @field_validator("from_email")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        return http_url(value, field="base_url").rstrip("/")


def subject(notification: Notification, config: EmailConfig) -> str:
    agent = notification.alert.agent_name if notification.alert else None
    text = f"{config.subject_prefix} {render.headline(notification)}".strip()
    if agent:
        text += f" ({agent})"
    # a subject is one line; a title with a newline would otherwise break the header
    text = " ".join(text.split())
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"


def _sections(notification: Notification) -> list[tuple[str, list[str]]]:
    """(heading, lines) pairs shared by the text and HTML parts."""
    alert, digest = notification.alert, notification.digest
    sections: list[tuple[str, list[str]]] = []
    if alert is not None:
        if alert.summary:
            sections.append(("", [alert.summary]))
        sections.append(("", [f"{k}: {v}" for k, v in render.facts(alert)]))
        causes = render.cause_lines(alert)
        if causes:
            sections.append(("Why", causes))
        suppressed = render.suppressed_line(alert)
        if suppressed:
            sections.append(("", [suppressed]))
    elif digest is not None:
        sections.append(("", [render.digest_summary(digest)]))
        sections.append(("Alerts", render.digest_lines(digest) or ["none"]))
    links = [f"{render.link_label(k)}: {url}" for k, url in notification.links.items()]
    if links:
        sections.append(("Links", links))
    return sections


def plain_text(notification: Notification) -> str:
    out = [render.headline(notification), ""]
    for heading, lines in _sections(notification):
        if heading:
            out.append(f"{heading}:")
        out.extend(f"  {line}" if heading else line for line in lines)
        out.append("")
    out.append(f"MetaAgent · {notification.tenant_name} · {notification.event}")
    return "\n".join(out)


def html_body(notification: Notification) -> str:
    """The HTML part; every piece of alert text is escaped (titles come from agents' data)."""
    esc = html.escape
    parts = [f"<h2>{esc(render.headline(notification))}</h2>"]
    for heading, lines in _sections(notification):
        if heading:
            parts.append(f"<h3>{esc(heading)}</h3>")
        if heading == "Links":
            items = [
                f'<li><a href="{esc(url)}">{esc(render.link_label(k))}</a></li>'
                for k, url in notification.links.items()
                if url.startswith(("https://", "http://"))
            ]
        else:
            items = [f"<li>{esc(line)}</li>" for line in lines]
        parts.append("<ul>" + "".join(items) + "</ul>")
    parts.append(
        f"<p><small>MetaAgent · {esc(notification.tenant_name)} · {esc(notification.event)}"
        "</small></p>"
    )
    return "<html><body>" + "".join(parts) + "</body></html>"


def mail(notification: Notification, config: EmailConfig) -> dict[str, Any]:
    """The Mail Send request body."""
    sender: dict[str, str] = {"email": config.from_email}
    if config.from_name:
        sender["name"] = config.from_name
    custom_args = {"delivery_id": str(notification.delivery_id), "event": notification.event}
    if notification.alert is not None:
        custom_args["alert_id"] = str(notification.alert.alert_id)
    categories = ["metaagent", notification.event]
    if notification.alert is not None:
        categories.append(f"severity.{notification.alert.severity}")
    return {
        "personalizations": [{"to": [{"email": address} for address in config.to]}],
        "from": sender,
        "subject": subject(notification, config),
        # SendGrid requires text/plain before text/html
        "content": [
            {"type": "text/plain", "value": plain_text(notification)},
            {"type": "text/html", "value": html_body(notification)},
        ],
        "custom_args": custom_args,
        "categories": categories,
    }


def _errors(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return "; ".join(
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors[:3]
        )
    except (ValueError, AttributeError):
        return body_excerpt(response)


class EmailChannel(ConfiguredChannel[EmailConfig]):
    kind = "email"
    config_model = EmailConfig
    needs = "the SendGrid API key"

    async def deliver(
        self,
        notification: Notification,
        parsed: EmailConfig,
        secret: str,
        http: httpx.AsyncClient,
    ) -> SendResult:
        response = await request_once(
            http,
            "POST",
            f"{parsed.base_url}/v3/mail/send",
            json=mail(notification, parsed),
            headers={"Authorization": f"Bearer {secret}"},
            secrets=(secret,),
        )
        if isinstance(response, SendResult):
            return response
        return classify(
            response,
            error=_errors(response) if response.status_code >= 300 else "",
            secrets=(secret,),
            external_ref=response.headers.get("x-message-id"),
        )
