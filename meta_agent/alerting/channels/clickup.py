"""ClickUp: a task per serious alert, kept up to date as the alert changes.

Config: {"list_id": "901234" (required), "assignees": [183, ...], "tags": ["metaagent"],
"resolved_status": "complete" (default), "base_url": "https://api.clickup.com" (default),
"min_severity": "critical" (default: only critical and emergency alerts become tasks)}.
The secret is the API token (personal `pk_…` or OAuth), sent as `Authorization: <token>`.

What each state change does, given `notification.previous_ref` (the task id this channel
returned for the alert before):
  opened, or no task yet     POST /api/v2/list/{list_id}/task        → the new task's id
  resolved                   PUT  /api/v2/task/{task_id} {"status"}   (closes the task)
  acknowledged, repeated     POST /api/v2/task/{task_id}/comment
  escalated_*                PUT  /api/v2/task/{task_id} {"priority"}, then the comment
`external_ref` is always the task id, so the dispatcher can pass it on as the next
`previous_ref`.

ClickUp takes no idempotency key: a creation whose answer was lost (a timeout, a 502) may
have made the task. A later attempt at the same delivery first looks for it, among the list's
tasks created since the state change (GET /api/v2/list/{list_id}/task, closed ones too), by
the delivery id every task's description ends with; only when none is found does it create
one. An escalation makes two requests as well: the priority update is idempotent, so when the
comment fails, the retry repeating it is harmless.

Errors look like {"err": "...", "ECODE": "..."}; 429 carries `X-RateLimit-Reset` (epoch s).
"""

from __future__ import annotations

import re
from dataclasses import replace
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
from meta_agent.models.alerting import AlertSeverity

# ClickUp priorities: 1 urgent, 2 high, 3 normal, 4 low
PRIORITY = {"emergency": 1, "critical": 2, "warning": 3, "info": 4}
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NAME_MAX = 250
# pages of 100 tasks read when looking for a task an earlier attempt may have created
LOOKUP_PAGES = 5


class ClickUpConfig(ChannelConfig):
    min_severity: AlertSeverity = "critical"
    list_id: str
    assignees: list[int] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=20)
    resolved_status: str = Field(default="complete", min_length=1, max_length=100)
    base_url: str = "https://api.clickup.com"

    @field_validator("list_id", mode="before")
    @classmethod
    def _list_id(cls, value: object) -> object:
        value = str(value) if isinstance(value, int) else value
        if isinstance(value, str) and not _ID.fullmatch(value):
            raise ValueError("must be a ClickUp list id (letters, digits, - or _)")
        return value

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        return http_url(value, field="base_url").rstrip("/")


def task_name(notification: Notification) -> str:
    alert = notification.alert
    name = render.headline(notification)
    if alert is not None:
        name = f"[{alert.severity.upper()}] {alert.title}"
        if alert.agent_name:
            name += f" ({alert.agent_name})"
    name = " ".join(name.split())
    return name if len(name) <= NAME_MAX else name[: NAME_MAX - 1] + "…"


def description(notification: Notification) -> str:
    """The task's markdown description."""
    alert = notification.alert
    lines = [f"**{render.headline(notification)}**", ""]
    if alert is not None:
        if alert.summary:
            lines += [alert.summary, ""]
        lines += [f"- **{k}:** {v}" for k, v in render.facts(alert)]
        causes = render.cause_lines(alert)
        if causes:
            lines += ["", "**Why**", *[f"- {c}" for c in causes]]
        suppressed = render.suppressed_line(alert)
        if suppressed:
            lines += ["", f"_{suppressed}_"]
    links = [f"- [{render.link_label(k)}]({url})" for k, url in notification.links.items()]
    if links:
        lines += ["", *links]
    ids = f"delivery `{notification.delivery_id}`"
    if alert is not None:
        ids = f"alert `{alert.alert_id}`, " + ids
    lines += ["", f"MetaAgent · {notification.tenant_name} · {ids}"]
    return "\n".join(lines)


def comment(notification: Notification) -> str:
    """Plain text: ClickUp comments do not render markdown."""
    lines = [f"{render.headline(notification)} ({render.when(notification.at)})"]
    if notification.alert is not None:
        lines += render.cause_lines(notification.alert)
        suppressed = render.suppressed_line(notification.alert)
        if suppressed:
            lines.append(suppressed)
    return "\n".join(lines)


def new_task(notification: Notification, config: ClickUpConfig) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": task_name(notification),
        "markdown_description": description(notification),
        "tags": config.tags,
        "assignees": config.assignees,
    }
    if notification.alert is not None:
        body["priority"] = PRIORITY[notification.alert.severity]
    if notification.state_change == "resolved":
        # first heard of it as it resolved: the record is worth keeping, already closed
        body["status"] = config.resolved_status
    return body


def _error(response: httpx.Response) -> str:
    try:
        doc = response.json()
        return f"{doc.get('ECODE', '?')}: {doc.get('err', '')}"
    except (ValueError, AttributeError):
        return body_excerpt(response)


class ClickUpChannel(ConfiguredChannel[ClickUpConfig]):
    kind = "clickup"
    config_model = ClickUpConfig
    needs = "the ClickUp API token"
    default_floor = "critical"

    def wants(self, notification: Notification, config: dict[str, Any]) -> bool:
        if notification.alert is None:
            return False  # a daily digest is not a task
        return super().wants(notification, config)

    async def _call(
        self, http: httpx.AsyncClient, method: str, url: str, body: dict[str, Any], token: str
    ) -> tuple[SendResult, httpx.Response | None]:
        response = await request_once(
            http, method, url, json=body, headers={"Authorization": token}, secrets=(token,)
        )
        if isinstance(response, SendResult):
            return response, None
        error = _error(response) if response.status_code >= 300 else ""
        return classify(response, error=error, secrets=(token,)), response

    async def _earlier_task(
        self, http: httpx.AsyncClient, url: str, notification: Notification, token: str
    ) -> SendResult | None:
        """The task an earlier attempt at this delivery created, as a sent result; a failed
        lookup's result; None when there is no such task."""
        marker = str(notification.delivery_id)
        # created after the state change (a minute early, for the clocks' skew)
        since = int(notification.at.timestamp() * 1000) - 60_000
        for page in range(LOOKUP_PAGES):
            params = {"date_created_gt": since, "include_closed": "true", "subtasks": "true",
                      "include_markdown_description": "true", "page": page}  # fmt: skip
            response = await request_once(
                http, "GET", url, params=params, headers={"Authorization": token}, secrets=(token,)
            )
            if isinstance(response, SendResult):
                return response
            if response.status_code >= 300:
                return classify(response, error=_error(response), secrets=(token,))
            try:
                doc = response.json()
                tasks, last = list(doc["tasks"]), bool(doc.get("last_page", True))
            except (ValueError, KeyError, TypeError):
                return SendResult("retry", response.status_code, error="unreadable task list")
            for task in tasks:
                text = task.get("markdown_description") or task.get("description") or ""
                if marker in text and task.get("id"):
                    return SendResult("sent", response.status_code, external_ref=str(task["id"]))
            if last:
                break
        return None

    async def deliver(
        self,
        notification: Notification,
        parsed: ClickUpConfig,
        secret: str,
        http: httpx.AsyncClient,
    ) -> SendResult:
        api = f"{parsed.base_url}/api/v2"
        task_id, change = notification.previous_ref, notification.state_change
        if change == "opened" or task_id is None or not _ID.fullmatch(task_id):
            url = f"{api}/list/{parsed.list_id}/task"
            if notification.attempt > 1:
                earlier = await self._earlier_task(http, url, notification, secret)
                if earlier is not None:  # found, or the lookup failed (tried again later)
                    return earlier
            result, response = await self._call(
                http, "POST", url, new_task(notification, parsed), secret
            )
            if result.outcome != "sent" or response is None:
                return result
            try:
                ref = response.json().get("id")
            except (ValueError, AttributeError):
                ref = None
            return SendResult("sent", result.status_code, external_ref=str(ref) if ref else None)
        task = f"{api}/task/{task_id}"
        if change == "resolved":
            result, _ = await self._call(
                http, "PUT", task, {"status": parsed.resolved_status}, secret
            )
        else:
            if change.startswith("escalated_") and notification.alert is not None:
                priority = {"priority": PRIORITY[notification.alert.severity]}
                result, _ = await self._call(http, "PUT", task, priority, secret)
                if result.outcome != "sent":
                    return replace(result, external_ref=task_id)
            body = {"comment_text": comment(notification), "notify_all": False}
            result, _ = await self._call(http, "POST", f"{task}/comment", body, secret)
        return replace(result, external_ref=task_id)
