"""A live outage, end to end: an agent logs through the real SDK to the API while the realtime
worker judges it; its vendor goes down, its health goes degraded → critical, its breaker
opens, the SDK refuses its executions without a network call, the vendor comes back, half-open
probes succeed and the breaker closes. Every health and breaker transition is printed as the
tenant's channel delivers it, the same messages the WebSocket relays.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis
from meta_agent_sdk import AgentLogger, CircuitOpenError

from meta_agent.events import channel

AGENT = "invoice-bot"
# a breaker that reacts within seconds, so the demo does not wait on production defaults
BREAKER = {
    "window_size": 20,
    "min_calls": 10,
    "failure_rate_threshold": 0.5,
    "consecutive_failures_threshold": 10,
    "open_duration_ms": 2_000,
    "half_open_permitted_probes": 3,
    "half_open_deadline_ms": 10_000,
    "reason": "demo: react within seconds",
}


class VendorUnavailable(Exception):
    """What the agent's invoicing vendor raises during its outage."""


@dataclass
class OutageReport:
    ran: int = 0
    failed: int = 0
    refused: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def saw(self, kind: str, to_state: str) -> bool:
        return any(e["type"] == kind and e.get("to_state") == to_state for e in self.events)

    @property
    def recovered(self) -> bool:
        return any(
            e["type"] == "breaker" and e["to_state"] == "closed" and e["cause"] == "probe_succeeded"
            for e in self.events
        )


def _describe(event: dict[str, Any]) -> str:
    if event["type"] == "alert":
        return f"alert    {event['state_change']:24} {event['severity']}: {event['title']}"
    arrow = f"{event['from_state']} → {event['to_state']}"
    if event["type"] == "breaker":
        return f"breaker  {arrow:24} {event['reason']}"
    return f"health   {arrow:24} {event['reason']}"


def _listen(
    redis_url: str,
    tenant_id: uuid.UUID,
    agent_id: str,
    report: OutageReport,
    say: Callable[[str], None],
    stop: threading.Event,
    ready: threading.Event,
) -> None:
    with redis.Redis.from_url(redis_url) as client, client.pubsub() as pubsub:
        pubsub.subscribe(channel(tenant_id))
        ready.set()
        while not stop.is_set():
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is None:
                continue
            event = json.loads(message["data"])
            if event.get("agent_id") != agent_id:
                continue
            report.events.append(event)
            say(_describe(event))


def run_outage(
    api_url: str,
    api_key: str,
    redis_url: str,
    tenant_id: uuid.UUID,
    *,
    say: Callable[[str], None],
    healthy_s: float = 2.0,
    outage_s: float = 4.0,
    give_up_s: float = 45.0,
    pace_s: float = 0.05,
) -> OutageReport:
    """Play the outage; returns what happened. Stops once the breaker has closed again."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=10) as api:
        agents = api.get("/v1/agents", params={"q": AGENT}).raise_for_status().json()["items"]
        agent = next((a for a in agents if a["name"] == AGENT), None)
        if agent is None:
            body = {"name": AGENT, "description": "creates invoices through a vendor API"}
            agent = api.post("/v1/agents", json=body).raise_for_status().json()
        agent_id = agent["agent_id"]
        api.put(f"/v1/agents/{agent_id}/circuit/config", json=BREAKER).raise_for_status()

    report = OutageReport()
    began = time.monotonic()

    def stamped(line: str) -> None:
        say(f"  t+{time.monotonic() - began:5.1f} s  {line}")

    stop, ready = threading.Event(), threading.Event()
    listener = threading.Thread(
        target=_listen,
        args=(redis_url, tenant_id, agent_id, report, stamped, stop, ready),
        daemon=True,
    )
    listener.start()
    ready.wait(5)
    with tempfile.TemporaryDirectory() as spool:
        logger = AgentLogger(
            AGENT, api_key=api_key, endpoint=api_url, spool_dir=spool, flush_interval_s=0.1
        )
        refusing = back = False
        stamped(f"{AGENT} runs normally; its vendor fails from t+{healthy_s:.0f} s")
        try:
            while time.monotonic() - began < give_up_s and not report.recovered:
                elapsed = time.monotonic() - began
                down = healthy_s <= elapsed < healthy_s + outage_s
                try:
                    with logger.execution(input={"invoice": report.ran}) as ex:
                        ex.tool_call("vendor.create_invoice", duration_ms=40.0)
                        if down:
                            raise VendorUnavailable("503 from the invoicing vendor")
                    report.ran += 1
                    if refusing:
                        refusing = False
                        stamped(f"SDK runs {AGENT} again (a permitted probe)")
                except VendorUnavailable:
                    report.ran += 1
                    report.failed += 1
                except CircuitOpenError as exc:
                    report.refused += 1
                    if not refusing:
                        refusing = True
                        stamped(f"SDK refuses {AGENT} without a network call: {exc}")
                if not back and elapsed >= healthy_s + outage_s:
                    back = True
                    stamped("the vendor is back")
                time.sleep(pace_s)
        finally:
            logger.shutdown(timeout=5)
            time.sleep(0.5)  # the last transitions' messages
            stop.set()
            listener.join(5)
    return report
