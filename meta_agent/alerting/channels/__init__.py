"""Notification channels: each turns one `Notification` into one provider request (Slack
incoming webhook, SendGrid e-mail, ClickUp task, signed webhook) and classifies the answer as
sent, retry or permanent. Retries, backoff and dead-lettering are the dispatcher's."""

from __future__ import annotations

from meta_agent.alerting.channels.base import Channel, ChannelConfigError, SendResult
from meta_agent.alerting.channels.clickup import ClickUpChannel
from meta_agent.alerting.channels.email import EmailChannel
from meta_agent.alerting.channels.slack import SlackChannel
from meta_agent.alerting.channels.webhook import WebhookChannel

CHANNELS: dict[str, Channel] = {
    channel.kind: channel
    for channel in (SlackChannel(), EmailChannel(), ClickUpChannel(), WebhookChannel())
}


def channel_for(kind: str) -> Channel:
    """The channel of a `notification_channels.kind`; `KeyError` naming it when unknown."""
    try:
        return CHANNELS[kind]
    except KeyError:
        raise KeyError(f"no notification channel of kind {kind!r}") from None


__all__ = [
    "CHANNELS",
    "Channel",
    "ChannelConfigError",
    "ClickUpChannel",
    "EmailChannel",
    "SendResult",
    "SlackChannel",
    "WebhookChannel",
    "channel_for",
]
