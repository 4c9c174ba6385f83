"""A local ingest server that speaks docs/ingest-protocol.md, and loggers pointed at it.

The server runs in a thread (http.server), gunzips and parses each batch, records every item,
and answers as the protocol says. Its `mode` makes it misbehave: "503", "429" (with
Retry-After), "hang" (accepts, never answers), "401", "403", "422"; `max_items` answers 413 to
larger batches. `FlakyServer` fails only its first `fail_next` requests.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from meta_agent_sdk import AgentLogger


@dataclass
class Request:
    at: float
    status: int
    items: int
    body_bytes: int
    headers: dict[str, str]


@dataclass
class IngestState:
    mode: str = "ok"
    retry_after: str = "1"
    fail_next: int = 0
    max_items: int | None = None
    max_item_bytes: int | None = None
    reject_indexes: tuple[int, ...] = ()
    drop_after_reply: bool = False  # close the kept-alive connection without saying so
    circuits: dict[str, Any] = field(default_factory=dict)
    routing_version: int = 0
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrivals: list[str] = field(default_factory=list)
    duplicates: int = 0
    requests: list[Request] = field(default_factory=list)


class IngestServer:
    """A stand-in for POST /v1/ingest; `url` is the endpoint to give the logger."""

    def __init__(self, http11: bool = False) -> None:
        self.http11 = http11
        self.state = IngestState()
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None

    # --- lifecycle ---

    def start(self) -> IngestServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if self.http11 else "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                server._handle(self)

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self.release.clear()
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listening socket: the server is down (connections are refused)."""
        self.release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what arrived ---

    @property
    def action_ids(self) -> set[str]:
        with self.lock:
            return set(self.state.actions)

    @property
    def execution_ids(self) -> set[str]:
        with self.lock:
            return set(self.state.executions)

    def ids(self) -> set[str]:
        return self.action_ids | self.execution_ids

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.ids()) >= count:
                return True
            time.sleep(0.01)
        return len(self.ids()) >= count

    def requests(self, status: int | None = None) -> list[Request]:
        with self.lock:
            reqs = list(self.state.requests)
        return [r for r in reqs if status is None or r.status == status]

    # --- the protocol ---

    def _reply(self, h: BaseHTTPRequestHandler, status: int, body: Any, **headers: str) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.end_headers()
        h.wfile.write(data)
        if self.state.drop_after_reply:
            h.close_connection = True

    def _too_large(self, items: list[dict[str, Any]]) -> bool:
        st = self.state
        if st.max_items is not None and len(items) > st.max_items:
            return True
        limit = st.max_item_bytes
        return limit is not None and any(len(json.dumps(i)) > limit for i in items)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length", "0")))
        body = gzip.decompress(raw) if h.headers.get("Content-Encoding") == "gzip" else raw
        doc = json.loads(body)
        executions = doc.get("executions", [])
        actions = doc.get("actions", [])
        n = len(executions) + len(actions)
        st = self.state
        mode = st.mode
        status = 200
        if mode == "hang":
            self.release.wait(30)
            return
        if mode in ("503", "401", "403", "422"):
            status = int(mode)
        elif mode == "429":
            status = 429
        elif self._too_large(executions + actions):
            status = 413
        with self.lock:
            st.requests.append(
                Request(time.monotonic(), status, n, len(body), dict(h.headers.items()))
            )
        if status == 429:
            self._reply(h, 429, {"error": "slow down"}, Retry_After=st.retry_after)
            return
        if status != 200:
            self._reply(h, status, {"error": {"code": status, "message": "no"}})
            return
        accepted = {"executions": 0, "actions": 0}
        dup = {"executions": 0, "actions": 0}
        rejected = []
        with self.lock:
            for kind, items, store, key in (
                ("execution", executions, st.executions, "execution_id"),
                ("action", actions, st.actions, "action_id"),
            ):
                for index, item in enumerate(items):
                    if kind == "action" and index in st.reject_indexes:
                        rejected.append({"kind": kind, "index": index, "reason": "test"})
                        continue
                    if item[key] in store:
                        st.duplicates += 1
                        dup[kind + "s"] += 1
                        continue
                    store[item[key]] = item
                    st.arrivals.append(item[key])
                    accepted[kind + "s"] += 1
        self._reply(
            h,
            200,
            {
                "accepted": accepted,
                "duplicates": dup,
                "rejected": rejected,
                "stream": "ok",
                "circuits": st.circuits,
                "routing_version": st.routing_version,
            },
        )


class FlakyServer(IngestServer):
    """Fails the first `fail_next` requests with `mode`, then accepts."""

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            failing = self.state.fail_next > 0
            if failing:
                self.state.fail_next -= 1
        if failing:
            raw = h.rfile.read(int(h.headers.get("Content-Length", "0")))
            doc = json.loads(gzip.decompress(raw))
            n = len(doc.get("executions", [])) + len(doc.get("actions", []))
            status = int(self.state.mode)
            with self.lock:
                self.state.requests.append(Request(time.monotonic(), status, n, len(raw), {}))
            headers = {"Retry_After": self.state.retry_after} if status == 429 else {}
            self._reply(h, status, {"error": "flaky"}, **headers)
            return
        saved = self.state.mode
        self.state.mode = "ok"
        try:
            super()._handle(h)
        finally:
            self.state.mode = saved


def assert_stats_add_up(logger: AgentLogger) -> None:
    s = logger.stats()
    assert s.logged + s.adopted == s.queued + s.sent + s.spooled + s.dropped, s
