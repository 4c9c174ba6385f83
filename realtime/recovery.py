"""What Redis lost, rebuilt from Postgres, the record.

When Redis comes back empty (restarted without persistence, flushed, failed over to an empty
replica), the windows of the last hour are gone, the breakers' states with them, and the
executions ingested while it was away never reached the stream. A marker key per kind says
whether Redis still holds what was put there: its absence means it lost it (the breakers'
store keeps its own, `RedisBreakerStore.needs_restore`). `recover_if_lost` checks both and,
under a short lock so that one worker of many does the work, puts back:

- the breakers first: a few rows, and they gate the agents' calls
  (`meta_agent.breaker.restore_from_postgres`);
- then the windows: every finished execution whose end falls in the 1-hour window, read
  tenant by tenant through a server-side cursor and applied in batches by `RedisWindows.apply`.
  Apply counts an execution id once (its 10-second bucket remembers it as long as the bucket
  counts), so a second rebuild, or the stream worker applying the same executions meanwhile,
  counts nothing twice: both file an execution under the same end, computed the same way.

The windows are then what the stream would have made of the same executions, with one
exception: consecutive failures count the failures after the latest success *in the window*,
so an unbroken streak that began more than an hour ago restarts at the window's edge.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from psycopg.rows import tuple_row

from meta_agent.breaker import RedisBreakerStore, restore_from_postgres
from meta_agent.breaker.state import to_datetime
from meta_agent.db import Database
from meta_agent.health_thresholds import Thresholds, ThresholdsError
from realtime.windows import AgentKey, Execution, RedisWindows
from realtime.windows.execution import COST_UNITS_PER_USD, FINISHED_STATUSES
from realtime.windows.store import LAYOUT, LONG_BUCKET_MS, LONG_BUCKETS

log = logging.getLogger(__name__)

# one hash tag: the lock and the marker are set together by one script (one cluster slot)
LOCK_KEY = "metaagent:{recovery}:lock"
# per layout of the windows: windows of a new layout start empty, and are rebuilt
WINDOWS_MARKER_KEY = f"metaagent:{{recovery}}:windows_rebuilt_at:{LAYOUT}"
LOCK_MS = 30_000  # renewed after every batch, so it only has to outlast one
BATCH_SIZE = 2_000
# Executions that started this long before the window are found through the partial index
# of migration 0014 (whose predicate is this literal), up to the longest ingest accepts.
LONG_EXECUTION_MS = 600_000
LONGEST_EXECUTION_MS = 7 * 86_400_000
# the query's bounds are widened by this much; `RedisWindows.apply` decides exactly
_MARGIN_MS = 1_000

SlowCallMs = (
    Mapping[AgentKey, int] | Callable[[Sequence[AgentKey]], Awaitable[Mapping[AgentKey, int]]]
)

_COLUMNS = f"""agent_id, execution_id, status, started_at, floor(duration_ms)::bigint,
    (cost_usd * {COST_UNITS_PER_USD})::bigint, input_tokens, output_tokens,
    coalesce(prompt_version_id::text, ''), coalesce(variant, '')"""
_EXECUTIONS = f"""
select {_COLUMNS} from raw.executions
where tenant_id = %(tenant)s and status = any(%(statuses)s) and started_at >= %(recent)s
  and started_at + coalesce(duration_ms, 0) * interval '1 millisecond' >= %(since)s
union all
select {_COLUMNS} from raw.executions
where tenant_id = %(tenant)s and status = any(%(statuses)s) and duration_ms >= {LONG_EXECUTION_MS}
  and started_at >= %(longest)s and started_at < %(recent)s
  and started_at + duration_ms * interval '1 millisecond' >= %(since)s
"""
_THRESHOLDS = """
select a.agent_id, a.sla_p95_ms, to_jsonb(t) as thresholds
from agents as a left join agent_health_thresholds as t using (tenant_id, agent_id)
"""
# KEYS: lock, marker. ARGV: token, marker value ('' sets none). Ends the lock if it is ours.
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end
redis.call('DEL', KEYS[1])
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


@dataclass(frozen=True)
class Recovery:
    """What one recovery did."""

    executions_applied: int
    breakers_restored: int
    seconds: float
    # False: the lock was lost on the way (Redis lost again?); the marker was not set, so the
    # next check rebuilds again
    complete: bool = True


async def windows_need_rebuild(client: aioredis.Redis) -> bool:
    """Whether Redis lost the windows (or never had them marked as rebuilt)."""
    return not await client.exists(WINDOWS_MARKER_KEY)


async def mark_windows_rebuilt(client: aioredis.Redis, now_ms: int) -> None:
    await client.set(WINDOWS_MARKER_KEY, str(now_ms))


def window_start_ms(now_ms: int) -> int:
    """The earliest end an execution can have and still count in the 1-hour window at `now_ms`."""
    return (now_ms // LONG_BUCKET_MS - LONG_BUCKETS + 1) * LONG_BUCKET_MS


async def tenants_with_executions(db: Database, since_ms: int) -> list[uuid.UUID]:
    """The tenants with an execution that may have ended at or after `since_ms` (a superset),
    through the one function that may look past RLS."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "select app.tenants_with_executions_since(%s) as tenant_id",
            (to_datetime(since_ms - _MARGIN_MS),),
        )
        return [row["tenant_id"] for row in await cursor.fetchall()]


async def finished_executions(
    db: Database, tenant_id: uuid.UUID, *, since_ms: int, batch_size: int = BATCH_SIZE
) -> AsyncIterator[list[Execution]]:
    """The tenant's finished executions that may have ended at or after `since_ms`, in batches
    of at most `batch_size`, with the meaning a stream entry of each would have
    (`realtime.windows.parse_entry` of `meta_agent.stream.execution_entry`)."""
    since = since_ms - _MARGIN_MS
    params = {
        "tenant": tenant_id,
        "statuses": sorted(FINISHED_STATUSES),
        "since": to_datetime(since),
        "recent": to_datetime(since - LONG_EXECUTION_MS),
        "longest": to_datetime(since - LONGEST_EXECUTION_MS),
    }
    agents: dict[uuid.UUID, AgentKey] = {}
    async with (
        db.tenant_transaction(tenant_id) as conn,
        conn.cursor("recovery_executions", row_factory=tuple_row) as cursor,
    ):
        await cursor.execute(_EXECUTIONS, params)
        while rows := await cursor.fetchmany(batch_size):
            yield [_execution(tenant_id, agents, row) for row in rows]


def _execution(
    tenant_id: uuid.UUID, agents: dict[uuid.UUID, AgentKey], row: tuple[Any, ...]
) -> Execution:
    agent_id, execution_id, status, started, duration, cost, tokens_in, tokens_out, pv, var = row
    agent = agents.get(agent_id)
    if agent is None:
        agent = agents[agent_id] = AgentKey(tenant_id, agent_id)
    return Execution(
        agent=agent,
        execution_id=execution_id,
        status=status,
        # exactly as `execution_entry` computes it: the same end files it in the same bucket
        started_ms=int(started.timestamp() * 1000),
        duration_ms=duration,
        cost_units=cost,
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        prompt_version_id=pv,
        variant=var,
    )


async def tenant_slow_call_ms(db: Database, tenant_id: uuid.UUID) -> dict[AgentKey, int]:
    """Each agent's slow-call threshold, as the worker judges it (`Thresholds`)."""
    async with db.tenant_transaction(tenant_id) as conn:
        rows = await (await conn.execute(_THRESHOLDS)).fetchall()
    found: dict[AgentKey, int] = {}
    for row in rows:
        agent = AgentKey(tenant_id, row["agent_id"])
        try:
            thresholds = Thresholds.from_row(row["thresholds"], sla_p95_ms=row["sla_p95_ms"])
        except ThresholdsError as exc:
            log.warning("thresholds of agent %s: %s; default slow-call threshold", agent, exc)
            continue
        found[agent] = thresholds.slow_call_threshold_ms
    return found


async def rebuild_windows(
    db: Database,
    windows: RedisWindows,
    now_ms: int,
    *,
    slow_call_ms: SlowCallMs | None = None,
    clock: Callable[[], int] | None = None,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Apply every finished execution of the 1-hour window at `now_ms` from Postgres to
    `windows`; returns how many counted (none that were applied before).

    `slow_call_ms`: each agent's threshold, as a mapping or as the worker's async lookup
    (agents → thresholds); None reads them from Postgres, one query per tenant. `clock`: the
    time each batch is applied at (default `now_ms`); pass the worker's, so an execution that
    ends during a long rebuild is filed where the stream worker files it. `on_batch` is
    awaited after each batch with the count so far.
    """
    since_ms = window_start_ms(now_ms)
    applied = 0
    for tenant_id in await tenants_with_executions(db, since_ms):
        thresholds = await tenant_slow_call_ms(db, tenant_id) if slow_call_ms is None else None
        batches = finished_executions(db, tenant_id, since_ms=since_ms, batch_size=batch_size)
        async for batch in batches:
            if thresholds is not None:
                slow: Mapping[AgentKey, int] = thresholds
            elif isinstance(slow_call_ms, Mapping):
                slow = slow_call_ms
            else:
                assert slow_call_ms is not None
                slow = await slow_call_ms(list(dict.fromkeys(e.agent for e in batch)))
            flags = await windows.apply(batch, now_ms if clock is None else clock(), slow)
            applied += sum(flags)
            if on_batch is not None:
                await on_batch(applied)
    return applied


async def recover_if_lost(
    db: Database,
    client: aioredis.Redis,
    *,
    windows: RedisWindows,
    breakers: RedisBreakerStore,
    now_ms: int,
    slow_call_ms: SlowCallMs | None = None,
    clock: Callable[[], int] | None = None,
    lock_ms: int = LOCK_MS,
) -> Recovery | None:
    """Rebuild what Redis lost (see the module); None when it lost nothing or another worker
    is rebuilding. Cheap when nothing was lost: two EXISTS."""
    if not (await windows_need_rebuild(client) or await breakers.needs_restore()):
        return None
    token = uuid.uuid4().hex
    if not await client.set(LOCK_KEY, token, nx=True, px=lock_ms):
        return None
    started = time.monotonic()
    finish = client.register_script(_FINISH)
    try:
        # another worker may have finished between the check and the lock
        rebuild = await windows_need_rebuild(client)
        restore = await breakers.needs_restore()
        restored = await restore_from_postgres(db, breakers, now_ms=now_ms) if restore else 0
        renew = client.register_script(_RENEW)
        held = [True]

        async def keep_lock(_: int) -> None:
            if held[0] and not await renew(keys=[LOCK_KEY], args=[token, lock_ms]):
                held[0] = False
                log.warning("recovery lock lost during the rebuild; it will not be marked done")

        await keep_lock(0)
        applied = 0
        if rebuild:
            applied = await rebuild_windows(
                db, windows, now_ms, slow_call_ms=slow_call_ms, clock=clock, on_batch=keep_lock
            )
    except BaseException:
        with contextlib.suppress(Exception):  # let another worker retry now, not at expiry
            await finish(keys=[LOCK_KEY, WINDOWS_MARKER_KEY], args=[token, ""])
        raise
    complete = bool(
        await finish(keys=[LOCK_KEY, WINDOWS_MARKER_KEY], args=[token, now_ms if rebuild else ""])
    )
    if not (rebuild or restore):
        return None
    recovery = Recovery(applied, restored, time.monotonic() - started, complete)
    log.info(
        "redis recovery: %d executions rebuilt into the windows, %d breakers restored, %.2f s%s",
        recovery.executions_applied,
        recovery.breakers_restored,
        recovery.seconds,
        "" if complete else " (lock lost: not marked, will run again)",
    )
    return recovery
