"""Windows in the real Redis, driven by a fake clock: the counts of the 5-minute and 1-hour
windows are exact, the quantiles within the sketch's bound of a direct computation, applying
an execution twice changes nothing, and an agent's keys all expire."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np
import pytest
import redis.asyncio as aioredis

from realtime.windows import AgentKey, Execution, RedisWindows, WindowStats, sketch, variant_member
from realtime.windows.store import (
    EXPIRY_MARGIN_MS,
    LONG_BUCKET_MS,
    SHORT_BUCKET_MS,
    AgentWindows,
    Screen,
)

T = TypeVar("T")
START_MS = 1_800_000_000_000  # the fake clock's origin, on no bucket boundary in particular
SLOW_MS = 2_000


def new_agent() -> AgentKey:
    return AgentKey(uuid.uuid4(), uuid.uuid4())


def execution(agent: AgentKey, ended_ms: int, duration_ms: int | None, **changes: Any) -> Execution:
    base = Execution(
        agent=agent,
        execution_id=uuid.uuid4(),
        status="success",
        started_ms=ended_ms - (duration_ms or 0),
        duration_ms=duration_ms,
        cost_units=0,
        input_tokens=0,
        output_tokens=0,
        prompt_version_id="",
        variant="",
    )
    return replace(base, **changes)


def run_with_windows(url: str, body: Callable[[RedisWindows], Awaitable[T]]) -> T:
    async def main() -> T:
        client = aioredis.Redis.from_url(url)
        try:
            return await body(RedisWindows(client))
        finally:
            await client.aclose()

    return asyncio.run(main())


def simulate(agent: AgentKey, seed: int, minutes: int = 70) -> list[Execution]:
    """About one execution every 1.5 s for `minutes`, with lognormal latencies, failures,
    costs, tokens and two variants."""
    rng = random.Random(seed)
    executions, t = [], START_MS
    while t < START_MS + minutes * 60_000:
        t += rng.randint(1, 3_000)
        duration = int(rng.lognormvariate(6.5, 1.0)) if rng.random() > 0.02 else None
        executions.append(
            execution(
                agent,
                t,
                duration,
                status=rng.choice(["success"] * 8 + ["failure", "timeout", "cancelled"]),
                cost_units=rng.randint(0, 5_000_000),
                input_tokens=rng.randint(0, 2_000),
                output_tokens=rng.randint(0, 500),
                prompt_version_id=rng.choice(["", "pv-1", "pv-2"]),
                variant=rng.choice(["", "a", "b"]),
            )
        )
    return executions


def expected(executions: list[Execution], first: int, last: int, bucket_ms: int) -> dict[str, Any]:
    """The numbers a direct computation gives for the executions that ended in buckets
    first..last (inclusive)."""
    chosen = [e for e in executions if first <= e.ended_ms // bucket_ms <= last]
    durations = [e.duration_ms for e in chosen if e.duration_ms is not None]
    return {
        "executions": len(chosen),
        "failures": sum(e.failed for e in chosen),
        "slow_calls": sum(e.duration_ms is not None and e.duration_ms >= SLOW_MS for e in chosen),
        "cost_usd": Decimal(sum(e.cost_units for e in chosen)) / 10**8,
        "input_tokens": sum(e.input_tokens for e in chosen),
        "output_tokens": sum(e.output_tokens for e in chosen),
        "durations": np.array(durations),
    }


def assert_window(stats: WindowStats, want: dict[str, Any]) -> None:
    assert stats.executions == want["executions"]
    assert stats.failures == want["failures"]
    assert stats.slow_calls == want["slow_calls"]
    assert stats.cost_usd == want["cost_usd"]
    assert stats.input_tokens == want["input_tokens"]
    assert stats.output_tokens == want["output_tokens"]
    durations = want["durations"]
    estimates = [stats.latency_p50_ms, stats.latency_p95_ms, stats.latency_p99_ms]
    if len(durations) == 0:
        assert estimates == [None, None, None]
        return
    for q, estimate in zip([0.5, 0.95, 0.99], estimates, strict=True):
        exact = float(np.quantile(durations, q, method="lower"))
        assert estimate is not None
        assert abs(estimate - exact) <= sketch.RELATIVE_ACCURACY * exact + 1e-9, (q, estimate)


def test_seventy_minutes_give_exact_counts_and_close_quantiles(redis_url: str) -> None:
    agent = new_agent()
    executions = simulate(agent, seed=5)
    end = executions[-1].ended_ms
    # the moments to look from: mid-run, at bucket edges, at the end
    moments = [START_MS + 35 * 60_000, START_MS + 61 * 60_000, (end // 60_000) * 60_000, end]

    async def body(windows: RedisWindows) -> list[Any]:
        applied: list[bool] = []
        reads = []
        waiting = list(moments)
        for start in range(0, len(executions), 97):  # batches, each at the time of its last
            batch = executions[start : start + 97]
            # each moment is read when the clock reaches it, the part of a batch up to it
            # applied first (the clock never runs back: what left the five minutes is rolled
            # into the hour)
            while waiting and batch[-1].ended_ms > waiting[0]:
                now = waiting.pop(0)
                before = [e for e in batch if e.ended_ms <= now]
                batch = batch[len(before) :]
                if before:
                    applied += await windows.apply(before, now, {agent: SLOW_MS})
                reads.append(await windows.read(agent, now))
            applied += await windows.apply(batch, batch[-1].ended_ms, {agent: SLOW_MS})
        reads += [await windows.read(agent, now) for now in waiting]
        variant = variant_member("pv-1", "a")
        return [applied, reads, await windows.read(agent, end, variant=variant)]

    applied, reads, variant_read = run_with_windows(redis_url, body)
    assert all(applied)
    for now, read in zip(moments, reads, strict=True):
        short, long = now // SHORT_BUCKET_MS, now // LONG_BUCKET_MS
        ended = [e for e in executions if e.ended_ms <= now]
        assert_window(read.five_minutes, expected(ended, short - 29, short, SHORT_BUCKET_MS))
        assert_window(read.one_hour, expected(ended, long - 59, long, LONG_BUCKET_MS))
    assert reads[-1].last_execution_ms == end
    mine = [e for e in executions if (e.prompt_version_id, e.variant) == ("pv-1", "a")]
    long = end // LONG_BUCKET_MS
    assert_window(variant_read.one_hour, expected(mine, long - 59, long, LONG_BUCKET_MS))
    assert variant_read.one_hour.executions < reads[-1].one_hour.executions


def test_the_running_sums_stay_exact_as_the_windows_move(redis_url: str) -> None:
    """Each read comes from the windows' running sums, moved on batch by batch: late
    executions, redeliveries, an idle gap longer than the buckets outlive the window (the sums
    are rebuilt) and a lost sum key (rebuilt too) all read as a direct computation."""
    agent = new_agent()
    executions = simulate(agent, seed=11, minutes=75)
    # silences: after 12 minutes the whole 5-minute window has moved on; after 3 minutes the
    # buckets that left either window meanwhile have expired before they could be taken out
    gaps = [(30, 12), (50, 3), (66, 3)]
    executions = [
        e
        for e in executions
        if not any(
            0 <= e.ended_ms - START_MS - at * 60_000 < length * 60_000 for at, length in gaps
        )
    ]

    async def expire(windows: RedisWindows, now: int, last: int) -> None:
        """Drop what Redis would have expired by `now` on the fake clock (its TTLs run on
        the real one): buckets past their window and margin, sums idle that long."""
        prefix = f"{windows.agent_prefix(agent)}:a:"
        for name in [
            k.decode() for k in await windows.client.keys(prefix.replace("{", "[{]") + "*")
        ]:
            kind, _, index = name[len(prefix) :].partition(":")
            # a 10-second bucket lives (until rolled into the hour) as long as its minute's
            minute = int(index) * SHORT_BUCKET_MS // LONG_BUCKET_MS if kind == "s" else index
            if kind in ("s", "m") and (int(minute) + 60) * LONG_BUCKET_MS + EXPIRY_MARGIN_MS <= now:
                await windows.client.delete(name)
            if (
                kind == "sum"
                and now - last
                >= (30 if index == "s" else 60)
                * (SHORT_BUCKET_MS if index == "s" else LONG_BUCKET_MS)
                + EXPIRY_MARGIN_MS
            ):
                await windows.client.delete(name)

    async def body(windows: RedisWindows) -> list[tuple[int, int, AgentWindows]]:
        reads = []
        last = START_MS
        for start in range(0, len(executions), 41):
            batch = executions[start : start + 41]
            now = batch[-1].ended_ms
            await expire(windows, now, last)
            last = now
            late = executions[max(0, start - 150) : start : 7]  # again, and out of order
            await windows.apply([*batch, *late], now, {agent: SLOW_MS})
            if start % 205 == 0:
                await windows.client.delete(f"{windows.agent_prefix(agent)}:a:counters:s")
            reads.append((start + len(batch), now, await windows.read(agent, now)))
        return reads

    reads = run_with_windows(redis_url, body)
    assert len(reads) > 50
    for applied, now, read in reads:
        so_far = executions[:applied]
        short, long = now // SHORT_BUCKET_MS, now // LONG_BUCKET_MS
        assert_window(read.five_minutes, expected(so_far, short - 29, short, SHORT_BUCKET_MS))
        assert_window(read.one_hour, expected(so_far, long - 59, long, LONG_BUCKET_MS))


def test_applying_the_same_executions_again_changes_nothing(redis_url: str) -> None:
    agent = new_agent()
    executions = simulate(agent, seed=7, minutes=10)
    now = executions[-1].ended_ms

    async def body(windows: RedisWindows) -> Any:
        first = await windows.apply(executions, now)
        before = await windows.read(agent, now)
        # a redelivered batch, and duplicates inside one batch
        again = await windows.apply(executions[::-1] + executions[:5], now)
        return first, before, again, await windows.read(agent, now)

    first, before, again, after = run_with_windows(redis_url, body)
    assert all(first)
    assert not any(again)
    assert after == before


def test_an_execution_twice_in_a_new_batch_counts_once(redis_url: str) -> None:
    """Two entries of one execution in one batch, beside executions applied before and new
    ones: each new execution counts once, and the windows equal those of every execution
    applied once."""
    agent, twin = new_agent(), new_agent()
    executions = simulate(agent, seed=8, minutes=5)
    now = executions[-1].ended_ms

    async def body(windows: RedisWindows) -> Any:
        first = await windows.apply(executions[:10], now)
        mixed = await windows.apply(executions + executions[10:20], now)
        await windows.apply([dataclasses.replace(e, agent=twin) for e in executions], now)
        return first, mixed, await windows.read(agent, now), await windows.read(twin, now)

    first, mixed, read, once = run_with_windows(redis_url, body)
    finished = [e.finished for e in executions]
    assert first == finished[:10]
    assert mixed == [False] * 10 + finished[10:] + [False] * 10
    assert read == once


def test_ids_move_from_a_hash_to_a_set_past_64_and_are_found_in_both(redis_url: str) -> None:
    """A 10 seconds' ids are a compact hash while they are few, and become a set (with their
    expiry) when a batch would take them past 64: an execution applied before is found
    whichever holds it."""
    agent, twin = new_agent(), new_agent()
    at = (START_MS // SHORT_BUCKET_MS + 1) * SHORT_BUCKET_MS
    few = [execution(agent, at + i * 400, 100) for i in range(20)]
    many = [execution(agent, at + 10_000 + i * 90, 100) for i in range(100)]
    executions = few + many
    now = at + 20_000

    async def body(windows: RedisWindows) -> Any:
        seen = f"{windows.agent_prefix(agent)}:seen:"
        keys = [f"{seen}{at // SHORT_BUCKET_MS + i}" for i in range(2)]
        applied = [await windows.apply(executions[:60], now)]
        kinds = [await windows.client.type(k) for k in keys]
        applied.append(await windows.apply(executions, now))
        applied.append(await windows.apply(executions, now))
        kinds += [await windows.client.type(k) for k in keys]
        ttl = await windows.client.pttl(keys[1])
        await windows.apply([dataclasses.replace(e, agent=twin) for e in executions], now)
        return applied, kinds, ttl, await windows.read(agent, now), await windows.read(twin, now)

    applied, kinds, ttl, read, once = run_with_windows(redis_url, body)
    assert applied == [[True] * 60, [False] * 60 + [True] * 60, [False] * 120]
    assert kinds == [b"hash", b"hash", b"hash", b"set"]
    assert ttl > 0
    assert read == once


def test_large_costs_and_token_counts_sum_exactly_in_one_batch(redis_url: str) -> None:
    """The script sums a batch's increments (in Lua numbers) before writing them: sums of
    14-digit costs and of maximal token counts stay exact."""
    agent = new_agent()
    ended = START_MS + 5_000
    big = [
        execution(
            agent,
            ended - i,
            100,
            cost_units=99_999_999_999_999 - i,  # $999,999.99 each: 14 digits
            input_tokens=2**31 - 1,
        )
        for i in range(3)
    ]

    async def body(windows: RedisWindows) -> Any:
        await windows.apply(big, ended)
        return await windows.read(agent, ended)

    stats = run_with_windows(redis_url, body).five_minutes
    assert stats.cost_usd == Decimal(3 * 99_999_999_999_999 - 3) / 10**8
    assert stats.input_tokens == 3 * (2**31 - 1)


def test_a_bucket_lost_before_it_rolled_and_come_back_does_not_stay_in_the_sum(
    redis_url: str,
) -> None:
    """A 10-second bucket lost early (evicted, say) and recreated by a late execution: the sum
    holds more than the bucket when the window moves past it. The marker's count tells, and
    the sum is rebuilt; the hour has what the bucket held when it was rolled."""
    agent = new_agent()
    at = START_MS + 65_000  # mid-bucket: every execution below ends in the same one
    early = [execution(agent, at - i * 100, 50) for i in range(5)]
    late = execution(agent, at - 700, 50)

    async def body(windows: RedisWindows) -> Any:
        await windows.apply(early, at)
        bucket = f"{windows.agent_prefix(agent)}:a:s:{at // SHORT_BUCKET_MS}"
        await windows.client.delete(bucket)
        await windows.apply([late], at + 1_000)
        # the first moment that bucket is out of the 5-minute window (the sum moves on by
        # subtracting, not by a rebuild from scratch)
        return await windows.read(agent, (at // SHORT_BUCKET_MS + 30) * SHORT_BUCKET_MS)

    read = run_with_windows(redis_url, body)
    assert read.five_minutes.executions == 0
    assert read.one_hour.executions == 1


def test_an_execution_from_a_clock_ahead_counts_once_when_it_comes_again(redis_url: str) -> None:
    """Its end is clamped to the worker's `now` for the counts, but it is remembered under
    its own end: redelivered after the worker's clock caught up, it is found."""
    agent = new_agent()
    ahead = execution(agent, START_MS + 25_000, 100)

    async def body(windows: RedisWindows) -> Any:
        first = await windows.apply([ahead], START_MS)
        again = await windows.apply([ahead], START_MS + 30_000)
        return first, again, await windows.read(agent, START_MS + 30_000)

    first, again, read = run_with_windows(redis_url, body)
    assert (first, again) == ([True], [False])
    assert read.five_minutes.executions == 1
    assert read.one_hour.executions == 1


def test_executions_too_old_or_still_running_do_not_count(redis_url: str) -> None:
    agent = new_agent()
    now = START_MS + 2 * 3_600_000
    too_old = execution(agent, now - 3_600_000 - LONG_BUCKET_MS, 100)
    running = execution(agent, now, None, status="running")
    recent = execution(agent, now - 1_000, 100)

    async def body(windows: RedisWindows) -> Any:
        return await windows.apply([too_old, running, recent], now), await windows.read(agent, now)

    applied, read = run_with_windows(redis_url, body)
    assert applied == [False, False, True]
    assert read.one_hour.executions == 1


@pytest.mark.parametrize("order", ["in order", "reversed"])
def test_consecutive_failures_are_those_after_the_latest_success_whatever_the_order(
    redis_url: str, order: str
) -> None:
    agent = new_agent()
    t = START_MS
    outcomes = ["failure", "success", "failure", "timeout", "success", "failure", "failure"]
    batch = [execution(agent, t + i * 1_000, 10, status=s) for i, s in enumerate(outcomes)]
    if order == "reversed":
        batch.reverse()
    now = t + 10_000

    async def body(windows: RedisWindows) -> Any:
        for one in batch:  # one call each, so the order is the order of application
            await windows.apply([one], now)
        return await windows.read(agent, now)

    assert run_with_windows(redis_url, body).consecutive_failures == 2


def test_an_agents_memory_is_bounded_and_every_key_expires(redis_url: str) -> None:
    """One execution per second for an hour, two variants: report MEMORY USAGE."""
    agent = new_agent()
    rng = random.Random(11)
    executions = [
        execution(
            agent,
            START_MS + i * 1_000,
            int(rng.lognormvariate(6.5, 1.0)),
            cost_units=rng.randint(0, 10**6),
            input_tokens=300,
            output_tokens=80,
            prompt_version_id="pv-1",
            variant=rng.choice(["a", "b"]),
        )
        for i in range(3_600)
    ]
    now = executions[-1].ended_ms

    async def body(windows: RedisWindows) -> Any:
        await windows.apply(executions, now)
        client = windows.client
        keys = [k async for k in client.scan_iter(match=f"{windows.agent_prefix(agent)}*")]
        usage = {k.decode(): await client.memory_usage(k, samples=0) for k in keys}
        ttls = [await client.pttl(k) for k in keys]
        return usage, ttls

    usage, ttls = run_with_windows(redis_url, body)
    seen = sum(v for k, v in usage.items() if ":seen:" in k)
    total = sum(usage.values())
    print(
        f"\nwindow memory of one agent at 1 execution/s, 2 variants: {total} bytes in"
        f" {len(usage)} keys; aggregates {total - seen} bytes, seen-ids {seen} bytes"
        f" ({seen / len(executions):.0f} bytes per execution in the last hour)"
    )
    assert all(ttl > 0 for ttl in ttls)
    # per scope (agent, 2 variants) 30 + 60 buckets and one leaving within the expiry margin
    # and the two windows' running sums with their latency counters, 360 (+1) seen-hashes,
    # last, fails, variants
    assert len(usage) <= 3 * (31 + 61 + 2 * 2) + 361 + 3
    assert total - seen < 1_000_000


def test_a_read_without_percentiles_gives_the_same_counts(redis_url: str) -> None:
    agent = new_agent()
    executions = simulate(agent, seed=9, minutes=20)
    now = executions[-1].ended_ms

    async def body(windows: RedisWindows) -> Any:
        await windows.apply(executions, now, {agent: SLOW_MS})
        return [await windows.read(agent, now, latency=m) for m in ("both", "five_minutes", "none")]

    both, five, counts = run_with_windows(redis_url, body)
    assert five.five_minutes == both.five_minutes
    assert five.one_hour == replace(
        both.one_hour, latency_p50_ms=None, latency_p95_ms=None, latency_p99_ms=None
    )
    assert counts.five_minutes == replace(
        both.five_minutes, latency_p50_ms=None, latency_p95_ms=None, latency_p99_ms=None
    )
    assert both.five_minutes.latency_p95_ms is not None
    assert (counts.last_execution_ms, counts.consecutive_failures) == (
        both.last_execution_ms,
        both.consecutive_failures,
    )


@pytest.mark.parametrize("latency", ["five_minutes", "none"])
def test_a_screen_read_back_with_the_apply_is_what_a_read_gives(redis_url: str, latency) -> None:
    agent, other = new_agent(), new_agent()
    history = simulate(agent, seed=12, minutes=20)
    now = history[-1].ended_ms
    late = [execution(agent, now, 250, status="failure"), execution(other, now, 40)]
    health_key = f"metaagent:health:{{{agent.tenant_id}:{agent.agent_id}}}"

    async def body(windows: RedisWindows) -> Any:
        await windows.apply(history, now - 1, {agent: SLOW_MS})
        await windows.client.hset(health_key, mapping={"st": "degraded", "since": 5, "ver": 3})
        screens = {agent: Screen(latency, health_key)}
        applied, screened = await windows.apply_and_screen(late, now, {agent: SLOW_MS}, screens)
        return applied, screened, await windows.read(agent, now, latency=latency)

    applied, screened, read = run_with_windows(redis_url, body)
    assert applied == [True, True]
    assert set(screened) == {agent}  # only the agents asked for
    windows, health = screened[agent]
    assert windows == read
    assert read.consecutive_failures >= 1
    assert [int(v) if v.isdigit() else v.decode() for v in health] == ["degraded", 5, 3]


def test_no_screen_when_the_sums_run_ahead_of_the_callers_clock(redis_url: str) -> None:
    agent = new_agent()
    now = START_MS + 600_000
    health_key = f"metaagent:health:{{{agent.tenant_id}:{agent.agent_id}}}"

    async def body(windows: RedisWindows) -> Any:
        await windows.apply([execution(agent, now + 30_000, 10)], now + 30_000)  # a clock ahead
        screens = {agent: Screen("none", health_key)}
        return await windows.apply_and_screen([execution(agent, now, 10)], now, None, screens)

    applied, screened = run_with_windows(redis_url, body)
    assert applied == [True]
    assert screened == {}


def test_a_bucket_leaving_the_five_minutes_rolls_into_the_hour_on_a_read(redis_url: str) -> None:
    """No execution after it: a read (the health sweep's) moves the sums on, and the 10-second
    bucket that left the five minutes is rolled into its minute and deleted, its latencies
    with it; the hour counts it once."""
    agent = new_agent()
    at = START_MS + 65_000
    durations = [40, 400, 4_000]
    executions = [execution(agent, at - i * 1_000, d) for i, d in enumerate(durations)]
    later = at + 6 * 60_000

    async def body(windows: RedisWindows) -> Any:
        await windows.apply(executions, at)
        before = await windows.read(agent, at)
        after = await windows.read(agent, later)
        again = await windows.read(agent, later + 1)
        scope = f"{windows.agent_prefix(agent)}:a"
        held = await windows.client.exists(f"{scope}:s:{at // SHORT_BUCKET_MS}")
        minute = await windows.client.hget(f"{scope}:m:{at // LONG_BUCKET_MS}", "n")
        return before, after, again, held, minute

    before, after, again, held, minute = run_with_windows(redis_url, body)
    assert (before.five_minutes.executions, before.one_hour.executions) == (3, 3)
    assert (after.five_minutes.executions, after.one_hour.executions) == (0, 3)
    assert after.one_hour == again.one_hour == before.one_hour
    assert held == 0
    assert int(minute) == 3
