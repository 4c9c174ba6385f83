"""A local ingest server that speaks docs/ingest-protocol.md, and loggers pointed at it.

The server runs in a thread (http.server), gunzips and parses each batch, records every item,
and answers as the protocol says. Its `mode` makes it misbehave: "503", "429" (with
Retry-After), "hang" (accepts, never answers), "401", "403", "422"; `max_items` answers 413 to
larger batches. `FlakyServer` fails only its first `fail_next` requests.

It also serves the circuit endpoints the SDK's refresher uses:
- `GET /v1/circuits?agent=a&agent=b` → `{"circuits": {a: {"state", "retry_after_s"}, ...},
  "routing_version": n}`, every asked agent included (closed when it has no breaker);
- `POST /v1/circuits/{agent}/permits` (body `{}`) → `{"admitted": true, "permit": {"token",
  "kind", "deadline_ms"}, "circuit": {...}}` while `permit_tokens` lasts (an admitted permit
  turns an open circuit half_open, as the server's breaker does), else `{"admitted": false,
  "permit": null, "circuit": {...}}`.
A circuit given as `{"state": "open", "open_until": t}` reports `retry_after_s` counted down on
`clock` (which a test may share with the logger). `circuit_mode` makes these endpoints fail
like `mode` does ingest.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from meta_agent_sdk import AgentLogger

_COMMON = {
    "ended_at": None, "duration_ms": None, "model": None, "input_tokens": 0,
    "output_tokens": 0, "cost_usd": 0.0, "error_type": None, "error_message": None,
    "input": None, "output": None,
}  # fmt: skip
DEFAULTS: dict[str, dict[str, Any]] = {
    "execution": {
        **_COMMON, "session_id": None, "parent_execution_id": None, "trace_id": None,
        "prompt_version_id": None, "experiment_id": None, "variant": None, "metadata": {},
    },
    "action": {**_COMMON, "parent_action_id": None, "sequence": 0, "attributes": {}},
}  # fmt: skip


@dataclass
class Request:
    at: float
    status: int
    items: int
    body_bytes: int
    headers: dict[str, str]


@dataclass
class CircuitRequest:
    at: float
    method: str
    path: str
    agents: list[str]
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class IngestState:
    mode: str = "ok"
    retry_after: str = "1"
    fail_next: int = 0
    max_items: int | None = None
    max_item_bytes: int | None = None
    reject_indexes: tuple[int, ...] = ()
    drop_after_reply: bool = False  # close the kept-alive connection without saying so
    delay_s: float = 0.0  # before answering a batch it takes
    in_flight: int = 0
    most_in_flight: int = 0
    circuits: dict[str, Any] = field(default_factory=dict)
    routing_version: int = 0
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # items as they came
    arrivals: list[str] = field(default_factory=list)
    duplicates: int = 0
    requests: list[Request] = field(default_factory=list)
    circuit_mode: str = "ok"
    permit_tokens: list[str] = field(default_factory=list)
    permit_kind: str = "probe"
    permit_deadline_ms: int | None = None
    circuit_requests: list[CircuitRequest] = field(default_factory=list)


class IngestServer:
    """A stand-in for POST /v1/ingest; `url` is the endpoint to give the logger."""

    def __init__(self, http11: bool = False) -> None:
        self.http11 = http11
        self.state = IngestState()
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.port = 0
        self.clock: Callable[[], float] = time.monotonic
        self._httpd: ThreadingHTTPServer | None = None

    # --- lifecycle ---

    def start(self) -> IngestServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if self.http11 else "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                if self.path.startswith("/v1/circuits/"):
                    server._permit(self)
                else:
                    server._handle(self)

            def do_GET(self) -> None:
                server._circuits(self)

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

    def circuit_requests(self, method: str | None = None) -> list[CircuitRequest]:
        with self.lock:
            reqs = list(self.state.circuit_requests)
        return [r for r in reqs if method is None or r.method == method]

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
        if st.delay_s:
            with self.lock:
                st.in_flight += 1
                st.most_in_flight = max(st.most_in_flight, st.in_flight)
            time.sleep(st.delay_s)
            with self.lock:
                st.in_flight -= 1
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
                    # as the real server stores it: a field left out has its default
                    store[item[key]] = {**DEFAULTS[kind], **item}
                    st.sent[item[key]] = item
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
                "circuits": {a: self.circuit_of(a) for a in st.circuits},
                "routing_version": st.routing_version,
            },
        )

    # --- the circuit endpoints ---

    def circuit_of(self, agent: str) -> dict[str, Any]:
        found = self.state.circuits.get(agent)
        if found is None:
            return {"state": "closed", "retry_after_s": None}
        if "open_until" in found:
            return {
                "state": found["state"],
                "retry_after_s": max(0.0, found["open_until"] - self.clock()),
            }
        return dict(found)

    def _circuit_failure(self, h: BaseHTTPRequestHandler, record: CircuitRequest) -> bool:
        """Answer as `circuit_mode` says; False when the request is to be served."""
        mode = self.state.circuit_mode
        if mode == "ok":
            return False
        if mode == "hang":
            self.release.wait(30)
            return True
        record.status = int(mode)
        headers = {"Retry_After": self.state.retry_after} if mode == "429" else {}
        self._reply(
            h, record.status, {"error": {"code": record.status, "message": "no"}}, **headers
        )
        return True

    def _record(self, h: BaseHTTPRequestHandler, agents: list[str], body: bytes) -> CircuitRequest:
        record = CircuitRequest(
            time.monotonic(), h.command, h.path, agents, 200, dict(h.headers.items()), body
        )
        with self.lock:
            self.state.circuit_requests.append(record)
        return record

    def _circuits(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        if url.path != "/v1/circuits":
            self._reply(h, 404, {"error": {"code": 404, "message": "not found"}})
            return
        agents = parse_qs(url.query).get("agent", [])
        record = self._record(h, agents, b"")
        if self._circuit_failure(h, record):
            return
        with self.lock:
            circuits = {a: self.circuit_of(a) for a in agents}
        self._reply(h, 200, {"circuits": circuits, "routing_version": self.state.routing_version})

    def _permit(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length", "0")))
        match = re.fullmatch(r"/v1/circuits/([^/]+)/permits", h.path)
        if match is None:
            self._reply(h, 404, {"error": {"code": 404, "message": "not found"}})
            return
        agent = unquote(match.group(1))
        record = self._record(h, [agent], body)
        if self._circuit_failure(h, record):
            return
        st = self.state
        with self.lock:
            token = st.permit_tokens.pop(0) if st.permit_tokens else None
            if token is not None and self.circuit_of(agent)["state"] == "open":
                st.circuits[agent] = {"state": "half_open", "retry_after_s": None}
            circuit = self.circuit_of(agent)
        if token is None:
            self._reply(h, 200, {"admitted": False, "permit": None, "circuit": circuit})
            return
        permit = {"token": token, "kind": st.permit_kind, "deadline_ms": st.permit_deadline_ms}
        self._reply(h, 200, {"admitted": True, "permit": permit, "circuit": circuit})


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
