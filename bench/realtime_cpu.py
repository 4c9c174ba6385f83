"""CPU per execution of one realtime worker, by phase, and of Redis, by script: figures that
hold still on a shared machine where `bench.realtime`'s throughput moves by half from run to
run (compare two versions back to back, in turns).

    python -m bench.realtime_cpu [--batches 12] [--batch 5000] [--json]

The fleet and the hour of history of `bench.realtime`, on a private Redis. Each round XADDs a
batch of entries in the ingest format (untimed), then one in-process `Worker` reads and
handles it: the worker's process CPU and Redis's (`INFO cpu`) over that, per execution. The
last round runs under SLOWLOG (every command, those inside scripts too) to split Redis's time
(logging adds to it: the split is for proportions).
The peer: a no-op EVALSHA pipelined 10,000 times in the same run (`bare_evalsha_us` of Redis
CPU each); `redis_to_bare` = Redis CPU per execution in no-op script calls.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import redis

from bench.harness import print_result, private_redis, served_tenant
from bench.realtime import entry_templates, register_fleet, synthesize_history, xadd_commands
from meta_agent.connections import resolve_urls
from meta_agent.db import Database
from meta_agent.redis_async import async_redis
from meta_agent.settings import load_settings
from realtime import collector
from realtime.worker import Worker


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def send_entries(
    client: redis.Redis, templates: Sequence[tuple[Any, ...]], start: int, n: int
) -> None:
    """`n` XADDs of the templates from `start` on (fresh ids, ended just now) in one write."""
    commands = xadd_commands(templates, start, n, str(uuid.uuid4())[:24].encode(), 0)
    connection = client.connection_pool.get_connection()
    try:
        connection.send_packed_command([commands])  # type: ignore[no-untyped-call]
        for _ in range(n):
            connection.read_response()
    finally:
        client.connection_pool.release(connection)


def bare_evalsha_us(client: redis.Redis, calls: int = 10_000) -> float:
    """Redis CPU of one no-op EVALSHA, pipelined."""
    script = client.register_script("return 0")
    script(keys=["bench:bare"])
    before = redis_cpu_s(client)
    with client.pipeline(transaction=False) as pipe:
        for _ in range(calls):
            script(keys=["bench:bare"], client=pipe)
        pipe.execute()
    return (redis_cpu_s(client) - before) / calls * 1e6


def slowlog_split(entries: list[dict[str, Any]], names: dict[str, str], n: int) -> dict[str, float]:
    """µs of Redis per execution by script (named) or command, largest first."""
    total: collections.Counter[str] = collections.Counter()
    for entry in entries:
        command = entry["command"].split()
        name = command[0].decode().upper()
        if name in {"SLOWLOG", "INFO", "CONFIG"}:
            continue
        if name == "EVALSHA":
            name = f"script:{names.get(command[1].decode(), command[1].decode()[:8])}"
        total[name] += entry["duration"]
    return {name: round(us / n, 2) for name, us in total.most_common(10)}


async def measure(
    redis_url: str, database_url: str, fleet: Sequence[Any], args: Any
) -> dict[str, Any]:
    sync = redis.Redis.from_url(redis_url)
    client = async_redis(redis_url)
    templates = entry_templates(fleet, 200_000, args.seed)
    phases: dict[str, float] = collections.defaultdict(float)

    def timed(owner: object, method: str, phase: str) -> None:
        """The worker's CPU in `method`, and Redis's (phases do not overlap: one worker)."""
        call: Callable[..., Any] = getattr(owner, method)

        @functools.wraps(call)
        async def wrapper(*a: Any, **k: Any) -> Any:
            started, redis_started = time.process_time(), redis_cpu_s(sync)
            try:
                return await call(*a, **k)
            finally:
                phases[phase] += time.process_time() - started
                phases[f"redis_{phase}"] += redis_cpu_s(sync) - redis_started

        setattr(owner, method, wrapper)

    rows: list[dict[str, float]] = []
    split: dict[str, float] = {}
    async with Database(database_url, max_size=4) as db:
        worker = Worker(db, client, consumer="bench-cpu", batch_size=args.batch)
        collector.settle()  # as `python -m realtime` does once it is set up
        await worker.ensure_group()
        timed(worker, "read", "read")
        timed(worker.windows, "apply_and_screen", "windows")
        timed(worker.breakers, "apply", "breakers")
        timed(worker.evaluator, "evaluate_agents", "health")
        # two rounds warm the caches and the scripts; the last runs under SLOWLOG
        rounds = args.batches + 3
        for round_ in range(rounds):
            send_entries(sync, templates, round_ * args.batch, args.batch)
            last = round_ == rounds - 1
            if last:
                sync.config_set("slowlog-max-len", 1_000_000)
                sync.config_set("slowlog-log-slower-than", 0)
                sync.slowlog_reset()
            phases.clear()
            redis_before, cpu_before = redis_cpu_s(sync), time.process_time()
            entries = await worker.read(None)
            await worker.handle(entries)
            cpu, redis_s = time.process_time() - cpu_before, redis_cpu_s(sync) - redis_before
            if last:
                sync.config_set("slowlog-log-slower-than", 10_000)
                names = {
                    worker.windows._script.sha: "windows",
                    worker.windows._read.sha: "read",
                    worker.breakers.store._script.sha: "breaker",
                }
                split = slowlog_split(sync.slowlog_get(1_000_000), names, len(entries))
            elif round_ >= 2:
                n = len(entries)
                rows.append(
                    {"worker_us": cpu / n * 1e6, "redis_us": redis_s / n * 1e6}
                    | {f"{k}_us": v / n * 1e6 for k, v in phases.items()}
                )
    await client.aclose()
    bare = bare_evalsha_us(sync)
    sync.close()
    result: dict[str, Any] = {"batch": args.batch, "batches": len(rows)}
    for name in rows[0]:
        result[name] = round(statistics.median(r[name] for r in rows), 2)
    result["bare_evalsha_us"] = round(bare, 2)
    result["redis_to_bare"] = round(result["redis_us"] / bare, 1)
    result["redis_us_by_command"] = split
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--batches", type=int, default=12, help="measured, after two more")
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--history-rate", type=float, default=50_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with (
        private_redis() as redis_url,
        served_tenant(["ingest"], redis_url=redis_url) as served,
    ):
        with psycopg.connect(served.owner_url, autocommit=True) as conn:
            fleet = register_fleet(conn, served.tenant_id, args.tenants, args.agents, args.seed)
        if args.history_rate:
            synthesize_history(redis.Redis.from_url(redis_url), fleet, args.history_rate)
        os.environ.update(served.api.env)  # the app role's URL, as `python -m realtime` has it
        database_url = resolve_urls(load_settings()).app_database_url
        result = asyncio.run(measure(redis_url, database_url, fleet, args))
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    main()
