"""End to end, every part real and in its own process where it would be in production: the
SDK logs failures to the API, the realtime worker opens the agent's breaker, the SDK then
refuses executions without touching the network, the breaker half-opens after its cooldown,
the SDK's probes close it. Meanwhile a WebSocket client of the tenant receives each health and
breaker transition, and a client of another tenant receives none of them."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from meta_agent_sdk import AgentLogger, CircuitOpenError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from meta_agent import tenants
from meta_agent.api_process import ApiProcess, RealtimeProcess

pytestmark = pytest.mark.integration

BREAKER = {
    "window_size": 10,
    "min_calls": 5,
    "consecutive_failures_threshold": 5,
    "open_duration_ms": 1_500,
    "half_open_permitted_probes": 2,
    "half_open_deadline_ms": 10_000,
}


class Upstream(Exception):
    pass


@pytest.fixture(scope="module")
def worker(api_process: ApiProcess, servers: Any) -> Iterator[RealtimeProcess]:
    process = RealtimeProcess(api_process.env)
    process.start(servers.redis.url())
    yield process
    process.stop()


class Listener:
    """A WebSocket client collecting every event it receives, on a thread of its own."""

    def __init__(self, url: str, key: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.stack = contextlib.ExitStack()
        self.socket: ClientConnection = self.stack.enter_context(
            connect(url, additional_headers={"Authorization": f"Bearer {key}"}, open_timeout=10)
        )
        ready = json.loads(self.socket.recv(timeout=10))
        assert ready["type"] == "ready", ready
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        try:
            for message in self.socket:
                event = json.loads(message)
                if event.get("type") in ("health", "breaker"):
                    self.events.append(event)
        except ConnectionClosed:
            pass

    def close(self) -> None:
        self.stack.close()
        self.thread.join(5)


def until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def new_tenant(owner_url: str) -> tuple[uuid.UUID, str]:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        tenant_id = tenants.create_tenant(conn, f"e2e-breaker-{uuid.uuid4().hex[:8]}")
        key = tenants.create_api_key(conn, tenant_id, scopes=["ingest", "write"]).key
    return tenant_id, key


def test_failures_open_the_breaker_the_sdk_refuses_and_probes_close_it(
    api_process: ApiProcess, worker: RealtimeProcess, migrated_database: Any, monkeypatch
) -> None:
    tenant_id, key = new_tenant(migrated_database.owner_url)
    _, other_key = new_tenant(migrated_database.owner_url)
    headers = {"Authorization": f"Bearer {key}"}
    agent_name = "e2e-payments"
    with httpx.Client(base_url=api_process.url, headers=headers) as api:
        agent = api.post("/v1/agents", json={"name": agent_name}).raise_for_status().json()
        config_url = f"/v1/agents/{agent['agent_id']}/circuit/config"
        api.put(config_url, json=BREAKER).raise_for_status()

    ws_url = api_process.url.replace("http://", "ws://") + "/v1/ws"
    ours, theirs = Listener(ws_url, key), Listener(ws_url, other_key)
    spool = tempfile.mkdtemp(prefix="e2e breaker spool ")
    logger = AgentLogger(
        agent_name, api_key=key, endpoint=api_process.url, spool_dir=spool, flush_interval_s=0.05
    )
    try:
        # the agent keeps trying; its failures open the breaker, and an ingest response (or
        # the SDK's refresh) tells the SDK, which then refuses before the body runs
        def fail_once() -> bool:
            try:
                with logger.execution(input={"n": 1}):
                    raise Upstream("payment provider down")
            except Upstream:
                time.sleep(0.05)
                return False
            except CircuitOpenError:
                return True
            raise AssertionError("unreachable")

        until(fail_once, "the SDK to refuse once the breaker opened")

        # the refusal is decided on cached state: this thread opens no connection for it
        connects: list[int] = []
        real_connect = socket.socket.connect

        def watched(self: socket.socket, address: Any) -> Any:
            if threading.get_ident() == caller:
                connects.append(1)
            return real_connect(self, address)

        caller = threading.get_ident()
        monkeypatch.setattr(socket.socket, "connect", watched)
        with pytest.raises(CircuitOpenError) as refused, logger.execution(input={"n": 2}):
            pytest.fail("an execution ran while the breaker was open")
        monkeypatch.undo()
        assert connects == []
        assert refused.value.state == "open"
        assert logger.stats().refused >= 1

        # after the cooldown the SDK is handed probe permits; successes close the breaker
        def try_once() -> bool:
            try:
                with logger.execution(input={"n": 3}):
                    pass
            except CircuitOpenError:
                return False
            return True

        def closed_by_probes() -> bool:
            try_once()
            time.sleep(0.1)
            return any(e["type"] == "breaker" and e["to_state"] == "closed" for e in ours.events)

        until(closed_by_probes, "the probes to close the breaker", timeout_s=40)
        assert logger.stats().probes >= BREAKER["half_open_permitted_probes"]
    finally:
        logger.shutdown(timeout=5)
        time.sleep(0.3)  # a last event in flight
        ours.close()
        theirs.close()
        shutil.rmtree(spool, ignore_errors=True)

    breaker = [
        (e["from_state"], e["to_state"], e["cause"]) for e in ours.events if e["type"] == "breaker"
    ]
    assert breaker[-3:] == [
        ("closed", "open", "consecutive_failures"),
        ("open", "half_open", "open_elapsed"),
        ("half_open", "closed", "probe_succeeded"),
    ] or breaker[-3:] == [
        ("closed", "open", "failure_rate"),
        ("open", "half_open", "open_elapsed"),
        ("half_open", "closed", "probe_succeeded"),
    ]
    health = [e for e in ours.events if e["type"] == "health"]
    assert any(e["to_state"] in ("degraded", "critical") for e in health), ours.events
    assert {e["tenant_id"] for e in ours.events} == {str(tenant_id)}
    assert theirs.events == []
    with psycopg.connect(migrated_database.owner_url) as conn:
        recorded = conn.execute(
            "select to_state from circuit_breaker_events where agent_id = %s order by version",
            (agent["agent_id"],),
        ).fetchall()
    assert [r[0] for r in recorded][-3:] == ["open", "half_open", "closed"]
