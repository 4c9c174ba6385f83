"""Slack incoming webhooks: one Block Kit message per notification.

The webhook URL (`https://hooks.slack.com/services/...`) is itself the credential, so it is the
channel's secret; the config holds only cosmetics:
  {"mention": "<!here>" | "<!channel>" | "<@U123>" | "<!subteam^S123>", optional,
   "mention_min_severity": "critical" (default), "min_severity": "info" (default)}
The mention is added to opened and escalated alerts at or above `mention_min_severity`.

Slack answers 200 `ok`; 400 `invalid_payload` / `invalid_blocks`, 403 `action_prohibited`,
404 `no_service` / `channel_not_found` and 410 `channel_is_archived` are permanent; 429 (with
Retry-After) and 5xx are worth another try. Incoming webhooks return no message id, so
`external_ref` stays None and a later state change posts a new message.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import field_validator

from meta_agent.alerting.channels import render
from meta_agent.alerting.channels.base import (
    ChannelConfig,
    ConfiguredChannel,
    SendResult,
    body_excerpt,
    classify,
    meets_severity,
    request_once,
)
from meta_agent.alerting.notification import Notification
from meta_agent.models.alerting import AlertSeverity

# Block Kit limits (https://api.slack.com/reference/block-kit/blocks)
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
FIELDS_MAX = 10
BLOCKS_MAX = 50
BUTTON_TEXT_MAX = 75
BUTTON_URL_MAX = 3000
FALLBACK_MAX = 3000
_MENTION = re.compile(r"^<(!here|!channel|!everyone|@[UW][A-Z0-9]+|!subteam\^[A-Z0-9]+)>$")


class SlackConfig(ChannelConfig):
    mention: str | None = None
    mention_min_severity: AlertSeverity = "critical"

    @field_validator("mention")
    @classmethod
    def _mention(cls, value: str | None) -> str | None:
        if value is not None and not _MENTION.fullmatch(value):
            raise ValueError('must be "<!here>", "<!channel>", "<@U…>" or "<!subteam^S…>"')
        return value


def escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_MAX)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, SECTION_MAX)}]}


def _buttons(links: dict[str, str]) -> list[dict[str, Any]]:
    buttons = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": _cut(render.link_label(key), BUTTON_TEXT_MAX)},
            "url": url,
            "action_id": f"link_{key}"[:255],
        }
        for key, url in links.items()
        if url.startswith(("https://", "http://")) and len(url) <= BUTTON_URL_MAX
    ]
    return [{"type": "actions", "elements": buttons[:25]}] if buttons else []


def _mention(notification: Notification, config: SlackConfig) -> str | None:
    opening = notification.state_change == "opened" or notification.state_change.startswith(
        "escalated_"
    )
    if config.mention and opening and meets_severity(notification, config.mention_min_severity):
        return config.mention
    return None


def message(notification: Notification, config: SlackConfig) -> dict[str, Any]:
    """The webhook body: fallback `text` plus Block Kit `blocks`, within Slack's limits."""
    title = f"{render.emoji(notification)} {render.headline(notification)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, HEADER_MAX)}}
    ]
    mention = _mention(notification, config)
    alert, digest = notification.alert, notification.digest
    if alert is not None:
        lead = " ".join(x for x in (mention, escape(alert.summary)) if x)
        if lead:
            blocks.append(_section(lead))
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _cut(f"*{k}*\n{escape(v)}", FIELD_MAX)}
                    for k, v in render.facts(alert)[:FIELDS_MAX]
                ],
            }
        )
        causes = render.cause_lines(alert)
        if causes:
            blocks.append(_section("*Why*\n" + "\n".join(f"• {escape(c)}" for c in causes)))
        suppressed = render.suppressed_line(alert)
        if suppressed:
            blocks.append(_context(f":mute: {suppressed}"))
    elif digest is not None:
        blocks.append(_section(escape(render.digest_summary(digest))))
        lines = [f"• {escape(line)}" for line in render.digest_lines(digest)]
        # several sections, since one holds at most 3000 characters; room kept for the tail
        chunk: list[str] = []
        for line in lines:
            if len("\n".join([*chunk, line])) > SECTION_MAX and chunk:
                blocks.append(_section("\n".join(chunk)))
                chunk = []
            chunk.append(line)
        if chunk:
            blocks.append(_section("\n".join(chunk)))
        blocks = blocks[: BLOCKS_MAX - 2]
    blocks.append(
        _context(
            f"MetaAgent · {escape(notification.tenant_name)} · {notification.event}"
            f" · {render.when(notification.at)}"
        )
    )
    blocks.extend(_buttons(notification.links))
    fallback = " ".join(x for x in (mention, escape(render.headline(notification))) if x)
    return {"text": _cut(fallback, FALLBACK_MAX), "blocks": blocks[:BLOCKS_MAX]}


class SlackChannel(ConfiguredChannel[SlackConfig]):
    kind = "slack"
    config_model = SlackConfig
    needs = "the incoming-webhook URL"

    async def deliver(
        self,
        notification: Notification,
        parsed: SlackConfig,
        secret: str,
        http: httpx.AsyncClient,
    ) -> SendResult:
        if not secret.startswith(("https://", "http://")):
            return SendResult("permanent", error="the secret is not an incoming-webhook URL")
        response = await request_once(
            http, "POST", secret, json=message(notification, parsed), secrets=(secret,)
        )
        if isinstance(response, SendResult):
            return response
        return classify(response, error=body_excerpt(response), secrets=(secret,))
