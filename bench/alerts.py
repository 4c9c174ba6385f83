"""`python -m bench.alerts --json`: how long a critical alert takes from the execution that
causes it to the channel, through every real part: POST /v1/ingest on an API process → the
ingest stream → two `python -m realtime` workers (windows, health, breaker) → the alert engine
(dedup, routing, the delivery outbox in Postgres) → the dispatcher → an HMAC-signed webhook
received by a local server in this process.

Each of `--agents` agents is first made healthy, then sent one batch of failing executions
(more than its consecutive-failure threshold): its health goes critical, which opens a
`health_critical` alert (severity critical). The latency of an agent is from the moment its
failing batch was accepted (the ingest response) to the moment the receiver got the alert.
Batches are spread over `--seconds`, so the alerts do not all queue at once.

The last line is one JSON object: `ingest_to_channel_ms_p50` / `_p95`, `goal_ms` (5,000) and
`p95_to_goal` (the ratio), `alerts` received, `duplicates` (the same alert state change
received twice: must be 0) and `rejected` (bad signatures: must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from bench.harness import print_result, private_redis, quantile, served_tenant
from bench.realtime import realtime_workers, wait_for_workers
from meta_agent.alerting.webhook_sink import WebhookSink

GOAL_MS = 5_000.0
SECRET_VAR = "METAAGENT_SECRET_BENCH_SINK"  # noqa: S105 (a variable name, not a secret)


def register(conn: psycopg.Connection, tenant: uuid.UUID, count: int, sink_url: str) -> None:
    conn.execute(
        "insert into agents (tenant_id, name) select %s, 'alerting-' || g"
        " from generate_series(1, %s) as g",
        (tenant, count),
    )
    conn.execute(
        "insert into notification_channels (tenant_id, kind, name, config, secret_env_var)"
        " values (%s, 'webhook', 'bench-sink', jsonb_build_object('url', %s::text), %s)",
        (tenant, sink_url, SECRET_VAR),
    )


def batch(agent: str, status: str, count: int) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "executions": [
            {
                "agent": agent,
                "execution_id": str(uuid.uuid4()),
                "status": status,
                "started_at": (now - dt.timedelta(milliseconds=50 - i)).isoformat(),
                "duration_ms": 5,
            }
            for i in range(count)
        ]
    }


async def drive(api_url: str, key: str, agents: list[str], seconds: float) -> dict[str, float]:
    """Make every agent healthy, then fail each in turn; when each failing batch was accepted
    (monotonic seconds, by agent name)."""
    accepted: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        for agent in agents:
            response = await http.post("/v1/ingest", json=batch(agent, "success", 25))
            response.raise_for_status()
        await asyncio.sleep(2.0)  # judged healthy first, so the failure is a transition
        pace = seconds / max(1, len(agents))
        for agent in agents:
            started = time.monotonic()
            response = await http.post("/v1/ingest", json=batch(agent, "failure", 10))
            response.raise_for_status()
            accepted[agent] = time.monotonic()
            await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))
    return accepted


def critical_alerts(sink: WebhookSink) -> dict[str, float]:
    """When each agent's health_critical opening arrived (first arrival)."""
    arrived: dict[str, float] = {}
    for got in sink.received:
        alert = (got.body or {}).get("alert") or {}
        if got.event == "alert.opened" and alert.get("alert_type") == "health_critical":
            arrived.setdefault(alert.get("agent_name") or "", got.received_at_monotonic)
    return arrived


def run(args: argparse.Namespace) -> dict[str, Any]:
    secret = uuid.uuid4().hex
    agents = [f"alerting-{i}" for i in range(1, args.agents + 1)]
    with (
        WebhookSink(secret) as sink,
        private_redis() as redis_url,
        served_tenant(["ingest", "read", "write"], redis_url=redis_url) as served,
        tempfile.TemporaryDirectory(prefix="bench-alerts-") as logs,
    ):
        with psycopg.connect(served.owner_url, autocommit=True) as conn:
            register(conn, served.tenant_id, args.agents, sink.url)
        env = {**served.api.env, SECRET_VAR: secret}
        with realtime_workers(env, args.workers, None, Path(logs)) as workers:
            wait_for_workers(redis.Redis.from_url(redis_url), workers, Path(logs))
            accepted = asyncio.run(drive(served.api.url, served.key, agents, args.seconds))
            sink.wait_for(lambda _: len(critical_alerts(sink)) >= len(agents), args.timeout)
    arrived = critical_alerts(sink)
    latencies = [(arrived[a] - accepted[a]) * 1000 for a in agents if a in arrived]
    seen = Counter(
        ((r.body or {}).get("alert", {}).get("alert_id"), (r.body or {}).get("state_change"))
        for r in sink.received
        if r.verified
    )
    p95 = quantile(latencies, 0.95)
    return {
        "agents": args.agents,
        "alerts": len(latencies),
        "missing": args.agents - len(latencies),
        "ingest_to_channel_ms_p50": round(quantile(latencies, 0.5), 1),
        "ingest_to_channel_ms_p95": round(p95, 1),
        "ingest_to_channel_ms_max": round(max(latencies, default=float("nan")), 1),
        "goal_ms": GOAL_MS,
        "p95_to_goal": round(p95 / GOAL_MS, 3),
        "duplicates": sink.duplicates + sum(n - 1 for n in seen.values() if n > 1),
        "rejected": sink.rejected,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__)
    parser.add_argument("--agents", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=15.0, help="spread of the failures")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print_result(run(args), as_json=args.json)


if __name__ == "__main__":
    main()
