"""A local receiver for MetaAgent's signed webhooks, for `make demo`, benchmarks and tests.

    with WebhookSink(secret) as sink:
        ... point a webhook channel at sink.url, let the dispatcher run ...
        sink.wait_for(lambda got: len(got) >= 3, timeout_s=5)

It verifies each request as a real receiver should (`SignatureVerifier`), answers 200 to a
good one and to a repeat of one it already has (counted in `duplicates`, since the sender
retries when it missed the answer), and 401 to a bad signature (counted in `rejected`).
`fail_next(n, status)` makes it answer `status` to the next n requests, to exercise retries.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from meta_agent.alerting.channels.signature import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    InvalidSignature,
    ReplayedDelivery,
    SignatureVerifier,
)

_MAX_BODY = 5 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    # the default backlog of 5 refuses connections when a dispatcher sends a burst at once
    request_queue_size = 256


@dataclass(frozen=True)
class Received:
    event: str | None
    delivery_id: str | None
    body: dict[str, Any] | None
    verified: bool
    duplicate: bool
    received_at_monotonic: float
    received_at: float  # wall clock, unix seconds
    status: int  # what the sink answered


class WebhookSink:
    """A threaded HTTP server on `host:port` (0: any free port) that records webhooks."""

    def __init__(
        self, secret: str, host: str = "127.0.0.1", port: int = 0, *, tolerance_s: float = 300
    ) -> None:
        self.verifier = SignatureVerifier(secret.split(), tolerance_s=tolerance_s)
        self.received: list[Received] = []
        self.duplicates = 0
        self.rejected = 0
        self._failures: list[int] = []
        self._changed = threading.Condition()
        self._server = _Server((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhook"

    def start(self) -> WebhookSink:
        if self._thread is None:
            # a short poll interval: stop() waits up to one interval
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="webhook-sink",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer `status` (without recording a delivery) to the next `n` requests."""
        with self._changed:
            self._failures.extend([status] * n)

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout_s: float) -> bool:
        """Block until `predicate(received)` holds or `timeout_s` passes; whether it held."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate(list(self.received)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def _record(self, headers: Any, raw: bytes) -> int:
        delivery_id, event = headers.get(DELIVERY_HEADER), headers.get(EVENT_HEADER)
        with self._changed:
            if self._failures:
                return self._failures.pop(0)
        verified, duplicate, status = True, False, 200
        try:
            self.verifier.verify(headers.get(SIGNATURE_HEADER) or "", raw, delivery_id or "")
        except ReplayedDelivery:
            duplicate = True
        except InvalidSignature:
            verified, status = False, 401
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._changed:
            self.duplicates += duplicate
            self.rejected += not verified
            self.received.append(
                Received(
                    event,
                    delivery_id,
                    body if isinstance(body, dict) else None,
                    verified,
                    duplicate,
                    time.monotonic(),
                    time.time(),
                    status,
                )
            )
            self._changed.notify_all()
        return status

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    self.send_response(413)
                    self.end_headers()
                    return
                status = sink._record(self.headers, self.rfile.read(length))
                answer = b'{"ok":true}' if status == 200 else b'{"ok":false}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the sink's record is the log; stderr noise would drown the demo

        return Handler
