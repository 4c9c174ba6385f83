"""Local stand-ins for Slack, SendGrid and ClickUp that speak their real request and response
formats and reject what the real services reject, so the channel clients are tested over real
HTTP without leaving the machine.

Each server records every request and can be scripted to give the next answers verbatim
(a 429 with Retry-After, a 500, a provider error body, a slow answer) before validating again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx

from meta_agent.alerting.channels import Channel, SendResult
from meta_agent.alerting.notification import AlertSnapshot, Notification

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scripted:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def _json(status: int, doc: Any, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(doc).encode()


class ProviderServer:
    """A threaded HTTP server on a free local port; subclasses answer in `respond`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: list[Scripted] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Recorded(self.command, self.path, dict(self.headers.items()), raw)
                with server._lock:
                    server.requests.append(seen)
                    scripted = server._script.pop(0) if server._script else None
                if scripted is not None:
                    time.sleep(scripted.delay_s)
                    status, headers, body = scripted.status, scripted.headers, scripted.body
                else:
                    status, headers, body = server.respond(seen)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_POST = do_PUT = do_GET = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # a short poll interval: shutdown() waits for it, once per test
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, status: int, body: bytes | str | dict[str, Any] = b"", **kw: Any) -> None:
        """The next request gets this answer, whatever it holds."""
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            kw.setdefault("headers", {})["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        self._script.append(Scripted(status, body, **kw))

    def respond(self, request: Recorded) -> Answer:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---- Slack incoming webhooks -------------------------------------------------------------

SLACK_PATH = "/services/T0001/B0001/abcdefghijklmnopqrstuvwx"


def slack_block_problems(blocks: Any) -> list[str]:
    """Block Kit rules Slack enforces on incoming webhooks (the ones our messages touch)."""
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return ["blocks must be a list of 1..50"]
    problems: list[str] = []
    action_ids: list[str] = []

    def text_ok(obj: Any, limit: int, types: tuple[str, ...], where: str) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in types:
            problems.append(f"{where}: text object of type {types}")
        elif not isinstance(obj.get("text"), str) or not 0 < len(obj["text"]) <= limit:
            problems.append(f"{where}: text must be 1..{limit} characters")

    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "header":
            text_ok(block.get("text"), 150, ("plain_text",), f"[{i}].header")
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"[{i}].section needs text or fields")
            if "text" in block:
                text_ok(block["text"], 3000, ("mrkdwn", "plain_text"), f"[{i}].section")
            fields = block.get("fields", [])
            if len(fields) > 10:
                problems.append(f"[{i}].section has more than 10 fields")
            for f in fields:
                text_ok(f, 2000, ("mrkdwn", "plain_text"), f"[{i}].field")
        elif kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 10:
                problems.append(f"[{i}].context needs 1..10 elements")
            for e in elements:
                text_ok(e, 3000, ("mrkdwn", "plain_text"), f"[{i}].context")
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= 25:
                problems.append(f"[{i}].actions needs 1..25 elements")
            for e in elements:
                text_ok(e.get("text"), 75, ("plain_text",), f"[{i}].button")
                if e.get("url") is not None and len(e["url"]) > 3000:
                    problems.append(f"[{i}].button url over 3000")
                action_ids.append(e.get("action_id"))
        elif kind != "divider":
            problems.append(f"[{i}]: unknown block type {kind!r}")
    if len(action_ids) != len(set(action_ids)):
        problems.append("action_id values must be unique in a message")
    return problems


class SlackServer(ProviderServer):
    @property
    def webhook_url(self) -> str:
        return self.base_url + SLACK_PATH

    def respond(self, request: Recorded) -> Answer:
        plain = {"Content-Type": "text/html"}
        if request.method != "POST" or request.path != SLACK_PATH:
            return 404, plain, b"no_service"
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return 400, plain, b"invalid_payload"
        try:
            doc = json.loads(request.body)
        except ValueError:
            return 400, plain, b"invalid_payload"
        if not doc.get("text") and not doc.get("blocks"):
            return 400, plain, b"missing_text_or_fallback_or_attachments"
        if "blocks" in doc and slack_block_problems(doc["blocks"]):
            return 400, plain, b"invalid_blocks"
        return 200, plain, b"ok"


# ---- SendGrid v3 Mail Send ---------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _sendgrid_error(message: str, field_: str | None) -> Answer:
    return _json(400, {"errors": [{"message": message, "field": field_, "help": None}]})


class SendGridServer(ProviderServer):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.message_ids: list[str] = []

    def respond(self, request: Recorded) -> Answer:
        if request.path != "/v3/mail/send" or request.method != "POST":
            return _json(404, {"errors": [{"message": "not found", "field": None}]})
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            message = "The provided authorization grant is invalid, expired, or revoked"
            return _json(401, {"errors": [{"message": message, "field": None, "help": None}]})
        try:
            doc = request.json
        except ValueError:
            return _sendgrid_error("Bad Request", None)
        problem = self.problem(doc)
        if problem:
            return _sendgrid_error(*problem)
        message_id = uuid.uuid4().hex[:22]
        self.message_ids.append(message_id)
        return 202, {"X-Message-Id": message_id}, b""

    @staticmethod
    def problem(doc: dict[str, Any]) -> tuple[str, str] | None:
        people = doc.get("personalizations")
        if not isinstance(people, list) or not 0 < len(people) <= 1000:
            return "The personalizations field is required.", "personalizations"
        for i, p in enumerate(people):
            to = p.get("to")
            if not isinstance(to, list) or not to:
                return (
                    "The to array is required for all personalization objects.",
                    f"personalizations.{i}.to",
                )
            for j, r in enumerate(to):
                if not _EMAIL.match(str(r.get("email", ""))):
                    return "Does not contain a valid address.", f"personalizations.{i}.to.{j}.email"
            if not doc.get("subject") and not p.get("subject"):
                return "The subject is required.", "subject"
        if not _EMAIL.match(str((doc.get("from") or {}).get("email", ""))):
            return "The from object must be provided for every email send.", "from"
        content = doc.get("content")
        if not isinstance(content, list) or not content:
            return (
                "Unless a valid template_id is provided, the content parameter is required.",
                "content",
            )
        types = [c.get("type") for c in content]
        if "text/plain" in types and types[0] != "text/plain":
            return "If present, text/plain content must be first.", "content.0.type"
        if any(not c.get("value") for c in content):
            return (
                "The content value must be a string at least one character in length.",
                "content.0.value",
            )
        categories = doc.get("categories", [])
        if len(categories) > 10 or len(set(categories)) != len(categories):
            return "Too many categories, or duplicates.", "categories"
        if any(not isinstance(v, str) for v in doc.get("custom_args", {}).values()):
            return "Custom args values must be strings.", "custom_args"
        return None


# ---- ClickUp API v2 ----------------------------------------------------------------------

_PRIORITY_NAMES = {1: "urgent", 2: "high", 3: "normal", 4: "low"}


class ClickUpServer(ProviderServer):
    def __init__(self, token: str, list_id: str = "901100200300") -> None:
        super().__init__()
        self.token, self.list_id = token, list_id
        self.tasks: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[str]] = {}
        self._ids = itertools.count(1)
        # the next creation is made, and its answer lost (a gateway's 502)
        self.lose_next_creation = False

    def _task_json(self, task_id: str) -> dict[str, Any]:
        t = self.tasks[task_id]
        p = t.get("priority")
        return {
            "id": task_id,
            "custom_id": None,
            "name": t["name"],
            "markdown_description": t.get("markdown_description", ""),
            "status": {"status": t.get("status", "to do"), "type": "open"},
            "priority": {"id": str(p), "priority": _PRIORITY_NAMES[p]} if p else None,
            "tags": [{"name": n} for n in t.get("tags", [])],
            "assignees": [{"id": a} for a in t.get("assignees", [])],
            "list": {"id": self.list_id},
            "url": f"https://app.clickup.com/t/{task_id}",
            "date_created": str(t["date_created"]),
        }

    def _list(self, query: dict[str, list[str]]) -> Answer:
        """GET /list/{id}/task: pages of 100, oldest first, closed ones only when asked;
        the markdown description only when asked."""
        since = int(query.get("date_created_gt", ["0"])[0])
        page = int(query.get("page", ["0"])[0])
        closed = query.get("include_closed", ["false"])[0] == "true"
        chosen = [
            self._task_json(i)
            for i, t in self.tasks.items()
            if t["date_created"] > since and (closed or t.get("status") != "complete")
        ]
        if query.get("include_markdown_description", ["false"])[0] != "true":
            for task in chosen:
                task.pop("markdown_description")
        shown = chosen[page * 100 : (page + 1) * 100]
        return _json(200, {"tasks": shown, "last_page": (page + 1) * 100 >= len(chosen)})

    def respond(self, request: Recorded) -> Answer:
        if "Authorization" not in request.headers:
            return _json(400, {"err": "Authorization header required", "ECODE": "OAUTH_017"})
        if request.headers["Authorization"] != self.token:
            return _json(401, {"err": "Token invalid", "ECODE": "OAUTH_025"})
        path, _, query = request.path.partition("?")
        listing = re.fullmatch(r"/api/v2/list/([^/]+)/task", path)
        if listing and listing.group(1) != self.list_id:
            return _json(401, {"err": "Team not authorized", "ECODE": "OAUTH_027"})
        if listing and request.method == "GET":
            return self._list(urllib.parse.parse_qs(query))
        try:
            doc = request.json
        except ValueError:
            return _json(400, {"err": "Invalid JSON", "ECODE": "JSON_001"})
        if listing:
            if request.method != "POST":
                return _json(405, {"err": "Method not allowed", "ECODE": "APP_001"})
            answer = self._create(doc)
            if self.lose_next_creation and answer[0] == 200:
                self.lose_next_creation = False
                return _json(502, {"err": "Bad gateway", "ECODE": "GATEWAY_502"})
            return answer
        if m := re.fullmatch(r"/api/v2/task/([^/]+)(/comment)?", request.path):
            task_id = m.group(1)
            if task_id not in self.tasks:
                return _json(404, {"err": "Task not found, deleted", "ECODE": "ITEM_013"})
            if m.group(2) and request.method == "POST":
                text = doc.get("comment_text")
                if not isinstance(text, str) or not text:
                    return _json(400, {"err": "Comment text invalid", "ECODE": "COMM_002"})
                self.comments.setdefault(task_id, []).append(text)
                now_ms = int(time.time() * 1000)
                return _json(
                    200, {"id": now_ms % 10**9, "hist_id": uuid.uuid4().hex, "date": now_ms}
                )
            if not m.group(2) and request.method == "PUT":
                if "priority" in doc and doc["priority"] not in (1, 2, 3, 4, None):
                    return _json(400, {"err": "Priority invalid", "ECODE": "INPUT_003"})
                self.tasks[task_id].update(doc)
                return _json(200, self._task_json(task_id))
        return _json(404, {"err": "Route not found", "ECODE": "APP_001"})

    def _create(self, doc: dict[str, Any]) -> Answer:
        if not isinstance(doc.get("name"), str) or not doc["name"].strip():
            return _json(400, {"err": "Task name invalid", "ECODE": "INPUT_005"})
        if doc.get("priority") not in (1, 2, 3, 4, None):
            return _json(400, {"err": "Priority invalid", "ECODE": "INPUT_003"})
        if not all(isinstance(a, int) for a in doc.get("assignees", [])):
            return _json(400, {"err": "Assignees invalid", "ECODE": "INPUT_009"})
        if not all(isinstance(t, str) for t in doc.get("tags", [])):
            return _json(400, {"err": "Tags invalid", "ECODE": "INPUT_010"})
        task_id = f"86c{next(self._ids):05d}"
        self.tasks[task_id] = {**doc, "date_created": int(time.time() * 1000)}
        return _json(200, self._task_json(task_id))


# ---- shared test helpers -----------------------------------------------------------------

T0 = dt.datetime(2025, 3, 14, 9, 26, tzinfo=dt.UTC)


def make_notification(
    state_change: str = "opened", *, severity: str = "critical", **alert: Any
) -> Notification:
    """A notification about an error-rate spike of agent "checkout-bot"."""
    snapshot = {
        "alert_id": uuid.UUID(int=7),
        "alert_type": "error_rate_spike",
        "severity": severity,
        "status": {"resolved": "resolved", "acknowledged": "acknowledged"}.get(
            state_change, "open"
        ),
        "title": "Error rate 31% on checkout-bot",
        "summary": "Errors rose above the critical threshold.",
        "agent_id": uuid.UUID(int=9),
        "agent_name": "checkout-bot",
        "details": {
            "reason": "error rate 31.0% > 20.0% (critical) over 5 min",
            "metrics": {
                "five_minutes": {
                    "executions": 100,
                    "failures": 31,
                    "error_rate": 0.31,
                    "latency_p95_ms": 2300.0,
                },
                "one_hour": {"executions": 900, "failures": 95, "error_rate": 0.105},
            },
            "top_error": {"type": "TimeoutError", "message": "upstream timed out", "count": 22},
        },
        "occurrence_count": 5,
        "suppressed_since_last": 4,
        "suppressed_total": 4,
        "first_seen_at": T0,
        "last_seen_at": T0 + dt.timedelta(minutes=4),
        **alert,
    }
    if state_change == "resolved":
        snapshot.setdefault("resolved_at", T0 + dt.timedelta(minutes=30))
        snapshot.setdefault("auto_resolved", True)
    if state_change == "acknowledged":
        snapshot.setdefault("acknowledged_at", T0 + dt.timedelta(minutes=5))
        snapshot.setdefault("acknowledged_by", "dana@example.com")
    return Notification(
        delivery_id=uuid.uuid4(),
        tenant_id=uuid.UUID(int=1),
        tenant_name="acme",
        state_change=state_change,
        at=T0 + dt.timedelta(minutes=1),
        alert=AlertSnapshot.model_validate(snapshot),
        links={
            "alert": "https://metaagent.example/v1/alerts/7",
            "dagster": "https://dagster.example/runs",
        },
    )


def send(
    channel: Channel,
    notification: Notification,
    *,
    config: dict[str, Any],
    secret: str | None,
    timeout_s: float = 5.0,
) -> SendResult:
    """One real send over httpx, from synchronous test code."""

    async def main() -> SendResult:
        async with httpx.AsyncClient(timeout=timeout_s) as http:
            return await channel.send(notification, config=config, secret=secret, http=http)

    return asyncio.run(main())


def refused_url() -> str:
    """A local URL where nothing listens."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
