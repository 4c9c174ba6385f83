"""Sustained throughput of the realtime workers (windows, health, breakers) against bare EVALSHA
calls on the same Redis, and how fast a transition becomes visible, all in one run.

    python -m bench.realtime [--agents 300] [--tenants 5] [--seconds 15] [--json]

A private embedded Redis, a scratch database on the embedded Postgres with a fleet registered
(tenants, agents with SLAs, some with health thresholds and breaker configs of their own), the
API, and `--workers` real `python -m realtime` processes. The windows first get an hour of
synthetic history at `--history-rate` executions/s (the buckets a worker reads when it judges
an agent's health are then as full as in service). Then:

- `executions_per_s`: a load-generator process XADDs pre-encoded entries in the exact format of
  `meta_agent.stream.execution_entry` (raw RESP, pipelined; agents drawn with a Zipf skew), kept
  ahead of the workers by a bounded backlog so they never wait; the rate is the executions the
  windows counted over `--seconds` after a warm-up (each batch also goes through the breakers
  and the health evaluation before the worker reads the next).
- `bare_evalsha_per_s`: `return 0` with one key, EVALSHA pipelined in batches of 1,000 through
  redis-py's Script as the worker calls its scripts, from as many processes as workers, with
  the load stopped. `ratio` = executions_per_s / bare_evalsha_per_s.
- `visible_ms_p99`: with the load at `--visible-load` × executions_per_s, probe agents get one
  execution each through POST /v1/ingest (a failure opens the probe's breaker and makes it
  degraded; a success makes it healthy again); another process polls Redis (breaker, health) and
  Postgres (`agent_health_realtime`, what the API serves) until every state shows it.
- `ws_push_ms_p95`: a WebSocket client in its own process on /v1/ws: receive time minus the
  event's `at_ms` (same clock); `ws_relay_ms_p95` is the API's share (minus the moment a Redis
  subscriber got the same message).
Goals: executions_per_s >= 50,000, ratio >= 0.5, visible_ms_p99 <= 250, ws_push_ms_p95 <= 100.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import multiprocessing
import os
import pstats
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import numpy as np
import psycopg
import redis
import redis.asyncio as aioredis
from redis.utils import HIREDIS_AVAILABLE

from bench.harness import print_result, private_redis, quantile, served_tenant
from meta_agent import tenants
from meta_agent.breaker import BreakerConfig, RedisBreakerStore
from meta_agent.events import channel
from meta_agent.stream import EXECUTIONS_STREAM, STREAM_MAX_LEN, execution_entry
from realtime.cycles import PHASES, read_cycles
from realtime.health import RedisHealthStore
from realtime.windows import AgentKey, RedisWindows, sketch
from realtime.windows.store import LONG_BUCKET_MS, LONG_BUCKETS, SHORT_BUCKET_MS, SHORT_BUCKETS

GOALS = {"executions_per_s": 50_000, "ratio": 0.5, "visible_ms_p99": 250, "ws_push_ms_p95": 100}
_SIGMA = 0.7  # spread of an agent's log-normal latency: 150-200 sketch bins in a full bucket


def log(message: str) -> None:
    print(f"[bench.realtime] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- the fleet


@dataclass(frozen=True)
class FleetAgent:
    key: AgentKey
    name: str
    weight: float  # share of the traffic
    failure_rate: float
    median_ms: float
    prompt_version_id: str = ""  # set for agents running an experiment (variant buckets too)


def register_fleet(
    conn: psycopg.Connection, first_tenant: uuid.UUID, n_tenants: int, n_agents: int, seed: int
) -> list[FleetAgent]:
    """`n_agents` over `n_tenants` tenants; traffic Zipf-skewed (s = 1) in a random order.
    A tenth fail at 12 % (degraded), one in fifty at 60 % (their breakers open)."""
    rng = random.Random(seed)
    tenant_ids = [first_tenant] + [
        tenants.create_tenant(conn, f"bench-{i}") for i in range(1, n_tenants)
    ]
    ranks = list(range(1, n_agents + 1))
    rng.shuffle(ranks)
    harmonic = sum(1 / r for r in ranks)
    fleet = []
    for j in range(n_agents):
        tenant = tenant_ids[j % n_tenants]
        median = rng.choice([300.0, 800.0, 1_500.0, 3_000.0])
        sla = round(median * math.exp(1.645 * _SIGMA) * 1.2) if rng.random() < 0.7 else None
        row = conn.execute(
            "insert into agents (tenant_id, name, sla_p95_ms) values (%s, %s, %s)"
            " returning agent_id",
            (tenant, f"agent-{j:04d}", sla),
        ).fetchone()
        assert row is not None
        agent = AgentKey(tenant, row[0])
        if rng.random() < 0.3:
            conn.execute(
                "insert into agent_health_thresholds (tenant_id, agent_id, min_samples,"
                " error_rate_degraded) values (%s, %s, 50, 0.08)",
                (tenant, agent.agent_id),
            )
        if rng.random() < 0.3:
            kind, size, calls = rng.choice([("count", 200, 50), ("time", 60, 30)])
            conn.execute(
                "insert into circuit_breaker_configs (tenant_id, agent_id, window_kind,"
                " window_size, min_calls) values (%s, %s, %s, %s, %s)",
                (tenant, agent.agent_id, kind, size, calls),
            )
        roll = rng.random()
        failure_rate = 0.6 if roll < 0.02 else 0.12 if roll < 0.12 else 0.02
        version = str(uuid.uuid4()) if rng.random() < 0.2 else ""
        fleet.append(
            FleetAgent(
                agent, f"agent-{j:04d}", 1 / ranks[j] / harmonic, failure_rate, median, version
            )
        )
    return fleet


# One failure opens a probe's breaker and makes it degraded; one success makes it healthy.
PROBE_BREAKER = BreakerConfig(consecutive_failures_threshold=1)
PROBE_TIMEOUT_S = 10


def register_probes(conn: psycopg.Connection, tenant: uuid.UUID, count: int) -> list[FleetAgent]:
    probes = []
    for i in range(count):
        row = conn.execute(
            "insert into agents (tenant_id, name) values (%s, %s) returning agent_id",
            (tenant, f"probe-{i}"),
        ).fetchone()
        assert row is not None
        conn.execute(
            "insert into agent_health_thresholds (tenant_id, agent_id,"
            " consecutive_failures_degraded, consecutive_failures_critical, min_samples,"
            " hysteresis_ratio, hysteresis_min_seconds) values (%s, %s, 1, 1000, 1000000, 1, 0)",
            (tenant, row[0]),
        )
        conn.execute(
            "insert into circuit_breaker_configs (tenant_id, agent_id,"
            " consecutive_failures_threshold) values (%s, %s, 1)",
            (tenant, row[0]),
        )
        probes.append(FleetAgent(AgentKey(tenant, row[0]), f"probe-{i}", 0, 0, 0))
    return probes


# ---------------------------------------------------------------- history and applied counts


# each bucket's fields come as one "field value field value ..." string (packing them one by
# one in redis-py took most of a minute for a 300-agent fleet)
_FILL = """
for i, key in ipairs(KEYS) do
    local fields = {}
    for word in string.gmatch(ARGV[2 * i], '%S+') do fields[#fields + 1] = word end
    redis.call('HSET', key, unpack(fields))
    redis.call('PEXPIRE', key, ARGV[2 * i - 1])
end
"""


def synthesize_history(client: redis.Redis, fleet: Sequence[FleetAgent], rate: float) -> int:
    """Fill each agent's buckets of the past hour (up to the current ones) as `rate`
    executions/s would have: the counts and latency bins `apply.lua` writes, with its TTLs
    (minutes before the five minutes as minute buckets, the rest as 10-second buckets, which
    the workers roll into the hour as they leave the five minutes). Returns the 10-second
    bucket from which buckets hold only what this run applies."""
    now_ms = int(time.time() * 1000)
    short_now, long_now = now_ms // SHORT_BUCKET_MS, now_ms // LONG_BUCKET_MS
    per_minute = LONG_BUCKET_MS // SHORT_BUCKET_MS
    rolled = (short_now - SHORT_BUCKETS + 1) // per_minute  # the first minute not yet rolled
    np_rng = np.random.default_rng(11)
    windows = RedisWindows(client)  # type: ignore[arg-type]  # only agent_prefix is used
    fill = client.register_script(_FILL)
    for agent in fleet:
        base = windows.agent_prefix(agent.key)
        buckets = [
            (f"{base}:a:s:{i}", SHORT_BUCKET_MS, i // per_minute)
            for i in range(rolled * per_minute, short_now)
        ] + [
            (f"{base}:a:m:{i}", LONG_BUCKET_MS, i)
            for i in range(long_now - LONG_BUCKETS + 1, rolled)
        ]
        keys: list[str] = []
        args: list[Any] = []
        for key, length_ms, minute in buckets:
            n = int(np_rng.poisson(rate * agent.weight * length_ms / 1000))
            if n == 0:
                continue
            k = min(n, 1_000)
            durations = np_rng.lognormal(math.log(agent.median_ms), _SIGMA, k)
            bins, counts = np.unique(
                np.ceil(np.log(durations) / math.log(sketch.GAMMA)).astype(np.int64),
                return_counts=True,
            )
            counts = np.maximum(1, np.rint(counts * (n / k))).astype(np.int64)
            failures = int(np_rng.binomial(n, agent.failure_rate))
            totals = f"n {n} f {failures} c {n * 120_000} ti {n * 1_200} to {n * 300} "
            keys.append(key)
            leaves_ms = (minute + LONG_BUCKETS) * LONG_BUCKET_MS  # it and its minute
            args += [
                leaves_ms - now_ms + 10_000,
                totals + " ".join(map(str, np.column_stack((bins, counts)).ravel().tolist())),
            ]
        if keys:
            fill(keys=keys, args=args)
    return short_now


def applied_since(client: redis.Redis, fleet: Sequence[FleetAgent], first: int) -> int:
    """Executions the windows counted in the 10-second buckets from `first` on (a run is
    shorter than the five minutes after which they roll into the hour)."""
    windows = RedisWindows(client)  # type: ignore[arg-type]
    last = int(time.time() * 1000) // SHORT_BUCKET_MS
    pipe = client.pipeline(transaction=False)
    for agent in fleet:
        for i in range(first, last + 1):
            pipe.hget(f"{windows.agent_prefix(agent.key)}:a:s:{i}", "n")
    return sum(int(v) for v in pipe.execute() if v is not None)


# --------------------------------------------------------------------- the load generator


def _bulk(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(data), data)


_ID_MARK, _MS_MARK = "00000000-0000-4000-8000-000000000000", "1000000000000"


def entry_templates(
    fleet: Sequence[FleetAgent], count: int, seed: int
) -> list[tuple[bytes, bytes, bytes, int]]:
    """`count` XADD commands as RESP, cut around the execution id and started_ms (filled in when
    sent): (head, middle, tail, duration_ms as text)."""
    rng = random.Random(seed)
    chosen = rng.choices(fleet, weights=[a.weight for a in fleet], k=count)
    templates = []
    for agent in chosen:
        duration = round(rng.lognormvariate(math.log(agent.median_ms), _SIGMA))
        failed = rng.random() < agent.failure_rate
        fields = execution_entry(
            {
                "tenant_id": agent.key.tenant_id,
                "agent_id": agent.key.agent_id,
                "execution_id": _ID_MARK,
                "status": ("timeout" if rng.random() < 0.3 else "failure") if failed else "success",
                "started_at": dt.datetime.fromtimestamp(int(_MS_MARK) / 1000, dt.UTC),
                "duration_ms": duration,
                "cost_usd": Decimal(rng.randint(1_000, 900_000)) / 10**8,
                "input_tokens": rng.randint(200, 3_000),
                "output_tokens": rng.randint(50, 800),
                "prompt_version_id": agent.prompt_version_id or None,
                "variant": rng.choice(["control", "treatment"])
                if agent.prompt_version_id
                else None,
                "error_type": "ToolError" if failed else None,
            }
        )
        args = ["XADD", EXECUTIONS_STREAM, "MAXLEN", "~", str(STREAM_MAX_LEN), "*"]
        args += [part for pair in fields.items() for part in pair]
        resp = b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)
        head, rest = resp.split(_ID_MARK.encode())
        middle, tail = rest.split(_MS_MARK.encode())
        templates.append((head, middle, tail, duration))
    return templates


def _read_replies(sock: socket.socket, count: int) -> None:
    """Wait for `count` XADD replies (each `$N\\r\\n<id>\\r\\n`); raise on an error reply."""
    seen, last = 0, b"\r\n"
    while seen < 2 * count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("Redis closed the connection")
        joined = last + chunk
        if b"\r\n-" in joined:
            raise RuntimeError(f"XADD failed: {joined[joined.index(b'-') :][:200]!r}")
        seen += joined.count(b"\r\n") - last.count(b"\r\n")
        last = joined[-2:]


def xadd_commands(
    templates: Sequence[tuple[Any, ...]], start: int, n: int, prefix: bytes, counter: int
) -> bytes:
    """`n` XADDs of the templates from `start` on, as RESP: execution ids `prefix` + the
    counter from `counter` on, each ended just now."""
    now_ms = time.time_ns() // 1_000_000
    parts: list[bytes] = []
    for k in range(n):
        head, middle, tail, duration = templates[(start + k) % len(templates)]
        parts += (
            head,
            b"%s%012x" % (prefix, counter + k),
            middle,
            b"%d" % (now_ms - duration),
            tail,
        )
    return b"".join(parts)


def generate(
    socket_path: str,
    templates: list[tuple[Any, ...]],
    added: Any,
    applied: Any,
    rate: Any,
    stop: Any,
    max_backlog: int,
) -> None:
    """Process body: XADD templates in turn. `rate` < 0: paused; 0: as fast as the workers take
    them (at most `max_backlog` ahead of `applied`); > 0: that many per second, open loop."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(socket_path)
    prefix, counter, position = str(uuid.uuid4())[:24].encode(), 0, 0
    phase_rate, phase_start, phase_sent = -1.0, 0.0, 0
    while not stop.value:
        target = rate.value
        if target != phase_rate:
            phase_rate, phase_start, phase_sent = target, time.monotonic(), 0
        if target < 0:
            time.sleep(0.01)
            continue
        if target == 0:
            n = 1_000 if added.value - applied.value < max_backlog else 0
        else:
            n = min(5_000, int((time.monotonic() - phase_start) * target) - phase_sent)
        if n <= 0:
            time.sleep(0.002)
            continue
        sock.sendall(xadd_commands(templates, position, n, prefix, counter))
        position, counter = (position + n) % len(templates), counter + n
        _read_replies(sock, n)
        phase_sent += n
        with added.get_lock():
            added.value += n
    sock.close()


# ------------------------------------------------------------------------ bare EVALSHA floor


def bare_evalsha(redis_url: str, seconds: float, batch: int, out: Any) -> None:
    """Process body: pipelines of `batch` no-op EVALSHA for `seconds` after a 1 s warm-up."""

    async def go() -> float:
        client = aioredis.Redis.from_url(redis_url)
        script = client.register_script("return 0")
        key = f"bench:bare:{os.getpid()}"
        began, done, warm_until = 0.0, 0, time.monotonic() + 1
        while True:
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(batch):
                    await script(keys=[key], args=[], client=pipe)
                await pipe.execute()
            now = time.monotonic()
            if not began:
                if now >= warm_until:
                    began = now
            else:
                done += batch
                if now - began >= seconds:
                    await client.aclose()
                    return done / (now - began)

    out.put(asyncio.run(go()))


def measure_bare(redis_url: str, processes: int, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    runners = [
        context.Process(target=bare_evalsha, args=(redis_url, seconds, 1_000, queue))
        for _ in range(processes)
    ]
    for p in runners:
        p.start()
    rates = [float(queue.get(timeout=seconds + 60)) for _ in runners]
    for p in runners:
        p.join(10)
    return sum(rates)


# ------------------------------------------------------------ visibility and WebSocket push


@dataclass
class Expectation:
    """What a probe's execution must make readable: its breaker's and its health's state."""

    breaker: str | None
    health: str
    began: float  # wall clock, s, just before the POST
    seen: dict[str, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def wanted(self) -> set[str]:
        return {"health_redis", "health_pg"} | ({"breaker"} if self.breaker else set())


@dataclass
class Visibility:
    all_ms: list[float] = field(default_factory=list)
    parts_ms: dict[str, list[float]] = field(default_factory=dict)
    post_ms: list[float] = field(default_factory=list)
    timeouts: int = 0


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


async def observe(
    client: aioredis.Redis,
    pg: psycopg.AsyncConnection[Any],
    probes: Sequence[FleetAgent],
    waiting: dict[uuid.UUID, Expectation],
    stop: asyncio.Event,
) -> None:
    """Poll, every 2 ms, what another process would read: the breaker and health in Redis, the
    health row in Postgres; mark each expectation's parts as they show."""
    health = RedisHealthStore(client)
    breakers = RedisBreakerStore(client)
    while not stop.is_set():
        pending = [(p, waiting[p.key.agent_id]) for p in probes if p.key.agent_id in waiting]
        if pending:
            async with client.pipeline(transaction=False) as pipe:
                for p, _ in pending:
                    pipe.hget(health.key(p.key), "st")
                    pipe.hget(breakers.keys(p.key)[0], "st")
                replies = await pipe.execute()
            cursor = await pg.execute(
                "select agent_id, state from agent_health_realtime where agent_id = any(%s)",
                ([p.key.agent_id for p, _ in pending],),
            )
            rows = dict(await cursor.fetchall())
            now = time.time()
            for i, (p, e) in enumerate(pending):
                found = {
                    "health_redis": _text(replies[2 * i]) == e.health,
                    "breaker": _text(replies[2 * i + 1]) == e.breaker,
                    "health_pg": rows.get(p.key.agent_id) == e.health,
                }
                for part in e.wanted():
                    if found[part] and part not in e.seen:
                        e.seen[part] = now
                if set(e.seen) >= e.wanted():
                    e.done.set()
        await asyncio.sleep(0.002)


async def ingest(http: httpx.AsyncClient, agent: FleetAgent, status: str) -> None:
    """One execution of `agent` through POST /v1/ingest, as the SDK sends it."""
    now = dt.datetime.now(dt.UTC)
    execution = {
        "agent": agent.name,
        "execution_id": str(uuid.uuid4()),
        "status": status,
        "started_at": (now - dt.timedelta(milliseconds=5)).isoformat(),
        "duration_ms": 5,
    }
    response = await http.post("/v1/ingest", json={"executions": [execution]})
    if response.status_code != 200 or response.json()["accepted"]["executions"] != 1:
        raise RuntimeError(f"probe ingest refused: {response.status_code} {response.text}")


async def probe(
    http: httpx.AsyncClient,
    store: RedisBreakerStore,
    agent: FleetAgent,
    waiting: dict[uuid.UUID, Expectation],
    until: float,
    out: Visibility,
) -> None:
    """Alternate a failure (breaker opens, health degraded) and, after a reset of the breaker, a
    success (health healthy), each sent through POST /v1/ingest and timed until readable."""
    key = agent.key
    while time.monotonic() < until:
        for status in ("failure", "success"):
            if status == "success":
                await store.reset(key, PROBE_BREAKER, "bench", "next probe", int(time.time() * 1e3))
            began = time.time()
            expect = Expectation(
                "open" if status == "failure" else None,
                "degraded" if status == "failure" else "healthy",
                began,
            )
            waiting[agent.key.agent_id] = expect
            await ingest(http, agent, status)
            out.post_ms.append((time.time() - began) * 1000)
            try:
                await asyncio.wait_for(expect.done.wait(), PROBE_TIMEOUT_S)
            except TimeoutError:
                out.timeouts += 1
            finally:
                del waiting[agent.key.agent_id]
            for part in expect.wanted():
                # a part not seen counts at the timeout: a lower bound, so p99 stays honest
                at = expect.seen.get(part, began + PROBE_TIMEOUT_S)
                out.parts_ms.setdefault(part, []).append((at - began) * 1000)
            out.all_ms.append(max(out.parts_ms[p][-1] for p in expect.wanted()))


async def measure_visibility(
    api_url: str,
    api_key: str,
    owner_url: str,
    redis_url: str,
    probes: Sequence[FleetAgent],
    seconds: float,
) -> Visibility:
    out = Visibility()
    waiting: dict[uuid.UUID, Expectation] = {}
    stop = asyncio.Event()
    client = aioredis.Redis.from_url(redis_url)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with (
        httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http,
        await psycopg.AsyncConnection.connect(owner_url, autocommit=True) as pg,
    ):
        watcher = asyncio.create_task(observe(client, pg, probes, waiting, stop))
        store = RedisBreakerStore(client)
        for p in probes:  # one at a time first: the API creates the day's partitions once
            await ingest(http, p, "success")
        until = time.monotonic() + seconds
        try:
            await asyncio.gather(*(probe(http, store, p, waiting, until, out) for p in probes))
        finally:
            stop.set()
            await watcher
            await client.aclose()
    return out


def listen(
    ws_url: str, api_key: str, redis_url: str, tenant: str, ready: Any, stop: Any, out: Any
) -> None:
    """Process body: a WebSocket client of the tenant's events and, for comparison, a Redis
    subscriber of its channel; reports (type, agent, version, at_ms, received ms) of each."""
    import websockets

    async def go() -> dict[str, Any]:
        client = aioredis.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(channel(tenant))
        from_redis: list[tuple[Any, ...]] = []
        from_ws: list[tuple[Any, ...]] = []

        def note(into: list[tuple[Any, ...]], raw: str | bytes) -> None:
            received = time.time() * 1000
            event = json.loads(raw)
            if event.get("type") in ("health", "breaker"):
                into.append(
                    (event["type"], event["agent_id"], event["version"], event["at_ms"], received)
                )

        async def relay() -> None:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    note(from_redis, message["data"])

        try:
            ws = await websockets.connect(
                ws_url, additional_headers={"Authorization": f"Bearer {api_key}"}, open_timeout=10
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if first.get("type") != "ready":
                raise RuntimeError(f"first message is not ready: {first}")
        except Exception as exc:  # reported: the route may not be there
            ready.set()
            return {"error": repr(exc)}
        task = asyncio.create_task(relay())
        ready.set()
        while not stop.is_set():
            try:
                note(from_ws, await asyncio.wait_for(ws.recv(), 0.2))
            except TimeoutError:
                continue
        task.cancel()
        await ws.close()
        await client.aclose()
        return {"ws": from_ws, "redis": from_redis}

    out.put(asyncio.run(go()))


def push_latencies(report: dict[str, Any]) -> dict[str, Any]:
    if "error" in report:
        return {"ws_push_ms_p95": None, "ws_note": f"no WebSocket client: {report['error']}"}
    pushed = [received - at for _, _, _, at, received in report["ws"]]
    by_event = {tuple(e[:3]): e[4] for e in report["redis"]}
    relayed = [e[4] - by_event[tuple(e[:3])] for e in report["ws"] if tuple(e[:3]) in by_event]
    return {
        "ws_push_ms_p95": round(quantile(pushed, 0.95), 1) if pushed else None,
        "ws_push_ms_p50": round(quantile(pushed, 0.5), 1) if pushed else None,
        "ws_relay_ms_p95": round(quantile(relayed, 0.95), 1) if relayed else None,
        "ws_events": len(pushed),
    }


# -------------------------------------------------------------------------- the processes


@contextlib.contextmanager
def realtime_workers(
    env: dict[str, str], count: int, profile: Path | None, logs: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` real `python -m realtime` processes (the first under cProfile if asked)."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(count):
            command = [sys.executable]
            if profile is not None and i == 0:
                command += ["-m", "cProfile", "-o", str(profile)]
            command += ["-m", "realtime", "--consumer", f"bench-{i}"]
            with open(logs / f"worker-{i}.log", "wb") as stderr:
                processes.append(
                    subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
                )
        yield processes
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def check_alive(processes: Sequence[subprocess.Popen[bytes]], logs: Path) -> None:
    for i, p in enumerate(processes):
        if p.poll() is not None:
            tail = (logs / f"worker-{i}.log").read_text(errors="replace")[-2_000:]
            raise RuntimeError(f"realtime worker {i} exited ({p.returncode}):\n{tail}")


def wait_for_workers(
    client: redis.Redis, workers: Sequence[subprocess.Popen[bytes]], logs: Path
) -> None:
    """Until every worker waits on XREADGROUP (Redis 6.2 lists a consumer in its group only
    once it got entries, so the clients' last commands tell instead)."""
    deadline = time.monotonic() + 60
    while sum(c.get("cmd") == "xreadgroup" for c in client.client_list()) < len(workers):
        check_alive(workers, logs)
        if time.monotonic() > deadline:
            raise RuntimeError("the realtime workers did not start consuming")
        time.sleep(0.1)


def agent_memory(client: redis.Redis, fleet: Sequence[FleetAgent]) -> dict[str, Any]:
    """MEMORY USAGE over every key of the median and of the busiest agent."""
    ordered = sorted(fleet, key=lambda a: a.weight)
    windows = RedisWindows(client)  # type: ignore[arg-type]
    health = RedisHealthStore(client)  # type: ignore[arg-type]
    breakers = RedisBreakerStore(client)  # type: ignore[arg-type]

    def usage(agent: FleetAgent) -> tuple[int, int, int]:
        keys = list(client.scan_iter(match=f"{windows.agent_prefix(agent.key)}:*", count=5_000))
        keys += [health.key(agent.key), *breakers.keys(agent.key)]
        total = sum(client.memory_usage(k, samples=0) or 0 for k in keys)
        seen = [k for k in keys if b":seen:" in (k if isinstance(k, bytes) else k.encode())]
        seen_bytes = sum(client.memory_usage(k, samples=0) or 0 for k in seen)
        # a 10 seconds' ids are a small hash, or a set beyond 64 (apply.lua)
        ids = 0
        for k in seen:
            ids += int(client.scard(k) if client.type(k) == b"set" else client.hlen(k))
        return total, seen_bytes, ids

    median, _, _ = usage(ordered[len(ordered) // 2])
    busiest, seen_bytes, seen_ids = usage(ordered[-1])
    per_execution = seen_bytes / seen_ids if seen_ids else math.nan
    return {
        "memory_median_agent_bytes": median,
        "memory_busiest_agent_bytes": busiest,
        # every execution id is kept an hour for idempotency: at the goal's rate, this much
        "seen_bytes_per_execution": round(per_execution, 1),
        "seen_gb_at_goal_rate": round(per_execution * GOALS["executions_per_s"] * 3600 / 1e9, 1),
        "redis_used_memory_bytes": int(client.info("memory")["used_memory"]),
    }


def print_profile(path: Path) -> None:
    stats = pstats.Stats(str(path), stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)


# ---------------------------------------------------------------------------------- the run


def measure_throughput(
    client: redis.Redis,
    fleet: Sequence[FleetAgent],
    first_bucket: int,
    shared: dict[str, Any],
    workers: Sequence[subprocess.Popen[bytes]],
    logs: Path,
    warmup: float,
    seconds: float,
) -> dict[str, Any]:
    """Run the load as fast as the workers take it; the rate the windows count after warm-up."""

    def sample() -> int:
        applied = applied_since(client, fleet, first_bucket)
        shared["applied"].value = applied
        return applied

    shared["rate"].value = 0
    until = time.monotonic() + warmup
    while time.monotonic() < until:
        sample()
        check_alive(workers, logs)
        time.sleep(0.1)
    first, began = sample(), time.monotonic()
    per_second, last, last_at, backlog_min = [], first, began, math.inf
    while time.monotonic() - began < seconds:
        time.sleep(0.1)
        applied, now = sample(), time.monotonic()
        backlog_min = min(backlog_min, shared["added"].value - applied)
        if now - last_at >= 1:
            per_second.append((applied - last) / (now - last_at))
            last, last_at = applied, now
            log(f"applied {per_second[-1]:,.0f} executions/s, backlog {backlog_min:,}")
    check_alive(workers, logs)
    rate = (sample() - first) / (time.monotonic() - began)
    return {
        "executions_per_s": round(rate),
        "per_second_min": round(min(per_second)),
        "per_second_max": round(max(per_second)),
        "backlog_min": int(backlog_min),  # > 0: the workers never waited for the generator
    }


def discard_backlog(client: redis.Redis, shared: dict[str, Any], timeout_s: float = 120) -> bool:
    """Stop the load, drop what no worker has read yet (XTRIM), and wait for the workers to
    finish what they hold; whether they did (they are idle then)."""
    shared["rate"].value = -1
    time.sleep(0.1)
    client.xtrim(EXECUTIONS_STREAM, maxlen=0)
    deadline = time.monotonic() + timeout_s
    while client.xpending(EXECUTIONS_STREAM, "realtime")["pending"]:
        if time.monotonic() > deadline:
            log(f"the workers still hold entries after {timeout_s:g} s; going on")
            return False
        time.sleep(0.1)
    return True


def run(args: argparse.Namespace) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    shared = {
        "added": context.Value("q", 0),
        "applied": context.Value("q", 0),
        "rate": context.Value("d", -1.0),
        "stop": context.Value("b", 0),
    }
    with (
        private_redis() as redis_url,
        served_tenant(["ingest", "read"], redis_url=redis_url) as served,
        tempfile.TemporaryDirectory(prefix="bench-realtime-") as scratch,
    ):
        logs = Path(args.logs or scratch)
        logs.mkdir(parents=True, exist_ok=True)
        with psycopg.connect(served.owner_url, autocommit=True) as conn:
            fleet = register_fleet(conn, served.tenant_id, args.tenants, args.agents, args.seed)
            probes = register_probes(conn, served.tenant_id, args.probes)
        client = redis.Redis.from_url(redis_url)
        log(f"{len(fleet)} agents over {args.tenants} tenants; history at {args.history_rate:,}/s")
        history = synthesize_history(client, fleet, args.history_rate) if args.history_rate else 0
        templates = entry_templates(fleet, 200_000, args.seed)
        socket_path = unquote(urlsplit(redis_url).path)
        generator = context.Process(
            target=generate,
            args=(
                socket_path,
                templates,
                shared["added"],
                shared["applied"],
                shared["rate"],
                shared["stop"],
                args.max_backlog,
            ),
        )
        profile = Path(args.profile).resolve() if args.profile else None
        result: dict[str, Any] = {
            "redis_parser": "hiredis" if HIREDIS_AVAILABLE else "python",
            "workers": args.workers,
            "agents": len(fleet),
            "tenants": args.tenants,
            "history_rate": args.history_rate,
        }
        started = time.monotonic()
        with realtime_workers(served.api.env, args.workers, profile, logs) as workers:
            wait_for_workers(client, workers, logs)
            first_bucket = max(history, int(time.time() * 1000) // SHORT_BUCKET_MS)
            generator.start()
            try:
                log(f"load as fast as {args.workers} workers take it: {args.warmup:g} s warm-up")
                result |= measure_throughput(
                    client, fleet, first_bucket, shared, workers, logs, args.warmup, args.seconds
                )
                result["bare_workers_idle"] = discard_backlog(client, shared)
                log("bare EVALSHA")
                bare = measure_bare(redis_url, args.workers, args.bare_seconds)
                result["bare_evalsha_per_s"] = round(bare)
                result["ratio"] = round(result["executions_per_s"] / bare, 3)
                visible_rate = args.visible_load * result["executions_per_s"]
                log(f"visibility and push with the load at {visible_rate:,.0f}/s")
                shared["rate"].value = visible_rate
                result["visible_load_per_s"] = round(visible_rate)
                result |= visibility(args, served, redis_url, probes)
                result |= worker_cycles(redis_url)
                check_alive(workers, logs)
                shared["rate"].value = -1
                result |= agent_memory(client, fleet)
            finally:
                shared["stop"].value = 1
                generator.join(30)
        result["duration_s"] = round(time.monotonic() - started, 1)
        client.close()
    if profile is not None:
        print_profile(profile)
    for goal, limit in GOALS.items():
        value = result.get(goal)
        above = goal in ("executions_per_s", "ratio")
        result[f"goal_{goal}"] = (
            None if value is None else (value >= limit if above else value <= limit)
        )
    return result


def worker_cycles(redis_url: str) -> dict[str, Any]:
    """The workers' cycles over their last published seconds (`realtime.cycles`), taken at
    the end of the visibility phase: at its load, each phase's p50 and p90 (ms), the median
    over the workers."""

    async def read() -> dict[str, dict[str, Any]]:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await read_cycles(client)
        finally:
            await client.aclose()

    workers = [w for w in asyncio.run(read()).values() if w.get("cycles")]
    if not workers:
        return {}
    out: dict[str, Any] = {
        "cycle_entries_p50": statistics.median(w["entries_p50"] for w in workers)
    }
    for phase in PHASES:
        for q in ("p50", "p90"):
            out[f"cycle_{phase}_ms_{q}"] = statistics.median(w[f"{phase}_ms_{q}"] for w in workers)
    return out


def visibility(
    args: argparse.Namespace, served: Any, redis_url: str, probes: Sequence[FleetAgent]
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    ready, stop, queue = context.Event(), context.Event(), context.Queue()
    ws_url = served.api.url.replace("http://", "ws://") + "/v1/ws"
    listener = context.Process(
        target=listen,
        args=(ws_url, served.key, redis_url, str(served.tenant_id), ready, stop, queue),
    )
    listener.start()
    ready.wait(30)
    try:
        seen = asyncio.run(
            measure_visibility(
                served.api.url, served.key, served.owner_url, redis_url, probes, args.probe_seconds
            )
        )
    finally:
        stop.set()
        report = queue.get(timeout=60)
        listener.join(10)
    parts = {f"{k}_visible_ms_p99": round(quantile(v, 0.99), 1) for k, v in seen.parts_ms.items()}
    return {
        "visible_ms_p99": round(quantile(seen.all_ms, 0.99), 1) if seen.all_ms else None,
        "visible_ms_p50": round(quantile(seen.all_ms, 0.5), 1) if seen.all_ms else None,
        "visible_samples": len(seen.all_ms),
        "visible_timeouts": seen.timeouts,
        **parts,
        "ingest_post_ms_p50": round(statistics.median(seen.post_ms), 1) if seen.post_ms else None,
        **push_latencies(report),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.realtime", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="realtime processes")
    parser.add_argument("--seconds", type=float, default=15, help="measured, after the warm-up")
    parser.add_argument("--warmup", type=float, default=8)
    parser.add_argument(
        "--history-rate",
        type=int,
        default=50_000,
        help="executions/s the synthetic past hour was filled at (0: none)",
    )
    parser.add_argument(
        "--max-backlog",
        type=int,
        default=40_000,
        help="entries ahead of the workers: twice what two workers take in a batch each",
    )
    parser.add_argument("--bare-seconds", type=float, default=5)
    parser.add_argument(
        "--visible-load",
        type=float,
        default=0.5,
        help="load during the visibility probes, as a share of the rate measured",
    )
    parser.add_argument("--probes", type=int, default=8, help="probe agents, each in turn")
    parser.add_argument("--probe-seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--profile", help="run the first worker under cProfile into this file")
    parser.add_argument("--logs", help="keep the workers' stderr in this folder")
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line (always printed)"
    )
    args = parser.parse_args(argv)
    print_result(run(args), as_json=args.json)


if __name__ == "__main__":
    main()
