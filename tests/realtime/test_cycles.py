"""A worker's cycles, timed by phase and published for another process to read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from meta_agent.db import Database
from realtime.cycles import PHASES, CycleStats, read_cycles
from realtime.worker import Worker
from tests.realtime.test_worker import NOW_MS, agent_of, queued, run, xadd_all


def test_a_workers_cycles_are_published_by_phase(
    migrated_database: Any, redis_url: str, make_agent: Callable[..., Any]
) -> None:
    stream, entries = queued(agent_of(make_agent), 90, NOW_MS - 10_000)

    async def body(db: Database, client: aioredis.Redis) -> Any:
        await xadd_all(client, stream, entries)
        worker = Worker(db, client, stream=stream, clock=lambda: NOW_MS, batch_size=30)
        await worker.run_until_idle()
        await worker.cycles.publish_if_due(client, force=True)
        published = await read_cycles(client)
        await worker.cycles.publish_if_due(client, force=True)  # nothing new: kept as it was
        return worker.consumer, published, await read_cycles(client)

    consumer, published, again = run(migrated_database.app_url, redis_url, body)
    mine = published[consumer]
    assert (mine["cycles"], mine["entries_p50"]) == (3, 30.0)
    parts = sum(mine[f"{p}_ms_p50"] for p in PHASES if p != "total")
    assert all(mine[f"{p}_ms_p90"] >= mine[f"{p}_ms_p50"] >= 0 for p in PHASES)
    assert mine["total_ms_p50"] >= parts * 0.5  # each cycle's phases add up to its total
    assert again[consumer] == mine


def test_the_summary_gives_each_phases_percentiles() -> None:
    stats = CycleStats("w")
    for i in range(1, 11):
        stats.add(100 * i, {"windows": i, "breakers": 2 * i, "total": 3 * i})
    summary = stats.summary()
    assert (summary["cycles"], summary["entries_p50"]) == (10, 550.0)
    assert (summary["windows_ms_p50"], summary["windows_ms_p90"]) == (5.5, 9.1)
    assert summary["health_ms_p50"] == 0.0  # a phase a cycle did not mark took no time
    assert summary["total_ms_p90"] == 27.3
    assert asyncio.run(_nothing_to_publish()) is None


async def _nothing_to_publish() -> None:
    """No cycles since the last publishing: nothing is written (no client is touched)."""
    await CycleStats("idle").publish_if_due(None, force=True)  # type: ignore[arg-type]
