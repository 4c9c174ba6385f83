"""No loss, no duplicates: 100,000 events while the API is SIGKILLed and restarted 20 times at
random moments, behind a proxy that answers 503 or 429 part of the time."""

from __future__ import annotations

import http.client
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from meta_agent_sdk import AgentLogger

from meta_agent.api_process import ApiProcess
from tests.raw_rows import stored_ids_at

pytestmark = pytest.mark.integration

EXECUTIONS = 10_000
ACTIONS_PER_EXECUTION = 9  # 10,000 executions + 90,000 actions = 100,000 events
RESTARTS = 20


class FlakyProxy(ThreadingHTTPServer):
    """Forwards to the API, but answers 503 (15 %) or 429 with Retry-After (10 %) at random."""

    daemon_threads = True

    def __init__(self, upstream: str, seed: int) -> None:
        self.upstream = urlsplit(upstream)
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: FlakyProxy

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            roll = self.server.random.random()
        if roll < 0.15:
            self._answer(
                503, b'{"error": {"code": "unavailable", "message": "flaky", "details": null}}'
            )
            return
        if roll < 0.25:
            self._answer(
                429,
                b'{"error": {"code": "rate_limited", "message": "slow down", "details": null}}',
                {"Retry-After": "0"},
            )
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        try:
            upstream = http.client.HTTPConnection(
                self.server.upstream.hostname, self.server.upstream.port, timeout=30
            )
            upstream.request("POST", self.path, body=body, headers=headers)
            response = upstream.getresponse()
            self._answer(response.status, response.read())
        except OSError:
            self._answer(
                502, b'{"error": {"code": "bad_gateway", "message": "API down", "details": null}}'
            )

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _kill_and_restart(api: ApiProcess, stop: threading.Event, seed: int) -> int:
    chance = random.Random(seed)
    restarts = 0
    while restarts < RESTARTS and not stop.is_set():
        time.sleep(chance.uniform(0.05, 0.6))
        api.kill()
        time.sleep(chance.uniform(0.0, 0.3))
        api.start()
        restarts += 1
    return restarts


def test_nothing_is_lost_or_duplicated_through_crashes_and_flaky_answers(
    api_process, e2e_tenant, migrated_database, tmp_path: Path
):
    tenant = e2e_tenant()
    proxy = FlakyProxy(api_process.url, seed=11)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    logger = AgentLogger(
        "no-loss-agent", api_key=tenant.key, endpoint=proxy.url, spool_dir=tmp_path / "spool",
        flush_interval_s=0.05,
    )  # fmt: skip
    stop = threading.Event()
    restarts: list[int] = []
    killer = threading.Thread(
        target=lambda: restarts.append(_kill_and_restart(api_process, stop, 5))
    )
    killer.start()
    executions, actions = set(), set()
    try:
        for n in range(EXECUTIONS):
            with logger.execution(metadata={"n": n}) as ex:
                executions.add(ex.execution_id)
                for step in range(ACTIONS_PER_EXECUTION):
                    actions.add(ex.tool_call(f"step-{step}", duration_ms=1.0).action_id)
            if n % 500 == 0:
                time.sleep(0.2)  # spread the logging over the restarts
    finally:
        killer.join()
        stop.set()
    assert restarts == [RESTARTS]
    assert len(executions) + len(actions) == 100_000
    # flush() waits until everything is sent or spooled; the worker keeps replaying the
    # spool in the background once the server answers again, so wait for the database.
    assert logger.flush(60), logger.stats()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        stored_executions, stored_actions = stored_ids_at(
            migrated_database.owner_url, tenant.tenant_id
        )
        if len(stored_executions) + len(stored_actions) >= 100_000:
            break
        time.sleep(1)
    logger.shutdown(10)
    proxy.shutdown()
    missing = (len(executions - stored_executions), len(actions - stored_actions))
    assert missing == (0, 0), (
        logger.stats(),
        sorted(p.name for p in (tmp_path / "spool").rglob("*")),
    )
    assert stored_executions == executions
    assert stored_actions == actions
    stats = logger.stats()
    assert stats.dropped == 0
