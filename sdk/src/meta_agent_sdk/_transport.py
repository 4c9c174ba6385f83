"""HTTP to the server over one kept-alive connection, from the standard library.

The worker POSTs batches to /v1/ingest with `post`; the circuit refresher, on a connection of
its own, asks /v1/circuits with `request`. Every socket operation (connect, send, each read)
has the request timeout, so a server that accepts the connection and never answers costs at
most that long. Neither raises: a network failure is a reply with status 0.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import ssl
import time
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from meta_agent_sdk._version import SDK_NAME, __version__

RETRYABLE = frozenset({0, 408, 425, 429, 500, 502, 503, 504})
_STALE = (
    "RemoteDisconnected",
    "BrokenPipeError",
    "ConnectionResetError",
    "ConnectionAbortedError",
    "BadStatusLine",
)
DROP_REASONS = {401: "unauthorized", 403: "forbidden", 413: "too_large", 422: "invalid"}


class Reply(NamedTuple):
    """What the server said: HTTP status (0 = no answer), Retry-After, parsed JSON body."""

    status: int
    retry_after: float | None
    body: dict[str, Any] | None
    error: str | None

    @property
    def ok(self) -> bool:
        """2xx."""
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """429, 5xx, 408 and network errors are worth another try later."""
        return self.status in RETRYABLE or self.status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport:
    """Requests to one server: `post` sends compressed batches to `url`, `request` anything."""

    def __init__(self, url: str, api_key: str | None, timeout_s: float) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout_s
        self._auth = {"User-Agent": f"{SDK_NAME}/{__version__}"}
        if api_key:
            self._auth["Authorization"] = f"Bearer {api_key}"
        self._headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            **self._auth,
        }
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def close(self) -> None:
        """Close the kept-alive connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def post(self, payload: bytes) -> Reply:
        """POST one gzip-compressed body to the transport's URL."""
        return self._request("POST", self._path, payload, self._headers)

    def request(self, method: str, path: str, body: bytes | None = None) -> Reply:
        """`method` `path` (appended to the URL's path) with a JSON body or none, same key."""
        headers = self._auth if body is None else {"Content-Type": "application/json", **self._auth}
        return self._request(method, self._path.rstrip("/") + path, body, headers)

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Reply:
        reused = self._conn is not None
        reply = self._request_once(method, path, body, headers)
        if reply.status == 0 and reused and reply.error and reply.error.startswith(_STALE):
            # The server closed the idle kept-alive connection (uvicorn does after 5 s): that
            # is no outage. Once more on a new connection; a duplicate is dropped by the server.
            reply = self._request_once(method, path, body, headers)
        return reply

    def _request_once(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> Reply:
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
            retry_after = parse_retry_after(response.getheader("Retry-After"))
            if response.will_close:
                self.close()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return Reply(0, None, None, f"{type(exc).__name__}: {exc}")
        parsed: dict[str, Any] | None = None
        try:
            doc = json.loads(data) if data else None
            parsed = doc if isinstance(doc, dict) else None
        except ValueError:
            parsed = None
        return Reply(status, retry_after, parsed, None if 200 <= status < 300 else f"HTTP {status}")
