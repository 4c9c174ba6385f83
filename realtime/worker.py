"""The realtime worker: a consumer of the ingest stream's consumer group that applies each
execution to the windows and to its agent's circuit breaker, acknowledges it, then evaluates
the health of the agents it touched.

After a Redis loss (the recovery markers are gone), one worker rebuilds the last hour's windows
and the breakers from Postgres (`realtime.recovery`); the others go on applying the stream and
judge health again once the rebuild is done.

At-least-once: an entry is acknowledged only after its execution is applied, and applying is
idempotent (by execution id), so a redelivered entry changes nothing. Entries a consumer read
and never acknowledged (it died) are taken over with XAUTOCLAIM once idle for
`claim_idle_ms`. Any number of workers may run at once; each has its own consumer name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from meta_agent.db import Database
from meta_agent.stream import EXECUTIONS_STREAM
from realtime.alerts import AlertLoop
from realtime.breakers import BreakerEvaluator, Changed
from realtime.cycles import CycleStats, CycleTimer
from realtime.health import HealthEvaluator, Recorded
from realtime.health.evaluator import screen_of
from realtime.recovery import Recovery, recover_if_lost, windows_need_rebuild
from realtime.windows import (
    DEFAULT_SLOW_CALL_MS,
    AgentKey,
    BadExecutionEntry,
    Execution,
    RedisWindows,
    parse_entry,
)
from realtime.windows.store import Screen

log = logging.getLogger(__name__)

GROUP = "realtime"
# an entry's id, and its fields as a mapping (XAUTOCLAIM) or as Redis sent them (XREADGROUP:
# name, value, ...); None when the entry was trimmed before it was read
Entry = tuple[str | bytes, Mapping[Any, Any] | Sequence[bytes] | None]


def _as_sent(response: Any, **options: Any) -> Any:
    return response


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class WorkerCounters:
    """What this worker has done since it started."""

    applied: int = 0
    duplicates: int = 0  # redelivered, or too old / still running: acknowledged, not counted
    bad: int = 0  # entries that could not be parsed: logged and acknowledged
    claimed: int = 0
    acked: int = 0
    transitions: list[Recorded] = field(default_factory=list)
    breaker_transitions: list[Changed] = field(default_factory=list)
    recoveries: list[Recovery] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        db: Database,
        client: aioredis.Redis,
        *,
        consumer: str | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        stream: str = EXECUTIONS_STREAM,
        group: str = GROUP,
        # a batch pays per agent it holds (a windows and a breaker call each), and a fleet's
        # agents are nearly all in every batch: the bigger the batch, the less per execution
        # (bench.realtime_cpu: 5,000 → 10,000 took Redis from ~19 to ~16 µs an execution). Below
        # saturation a batch is what arrived during the last one, whatever this allows.
        batch_size: int = 10_000,
        block_ms: int = 1_000,
        claim_idle_ms: int = 30_000,
        claim_every_ms: int = 5_000,
        sweep_every_ms: int = 10_000,
        deadline_every_ms: int = 1_000,
        recovery_every_ms: int = 1_000,
        pending_every_ms: int = 50,
        evaluator: HealthEvaluator | None = None,
        windows: RedisWindows | None = None,
        breakers: BreakerEvaluator | None = None,
        alerts: AlertLoop | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.consumer = consumer or consumer_name()
        self.clock = clock
        self.stream = stream
        self.group = group
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.claim_every_ms = claim_every_ms
        self.sweep_every_ms = sweep_every_ms
        self.deadline_every_ms = deadline_every_ms
        self.recovery_every_ms = recovery_every_ms
        self.pending_every_ms = pending_every_ms
        # the stream is read through a client of the same connections that leaves the reply
        # as Redis sent it: redis-py's own parsing (a dict per entry) cost as much as parsing
        # the executions themselves
        self._reader = aioredis.Redis(connection_pool=client.connection_pool)
        self._reader.set_response_callback("XREADGROUP", _as_sent)
        self.windows = windows or RedisWindows(client)
        self.evaluator = evaluator or HealthEvaluator(db, client, windows=self.windows)
        self.breakers = breakers or BreakerEvaluator(db, client)
        self.alerts = alerts
        self.counters = WorkerCounters()
        self.cycles = CycleStats(self.consumer)
        self._claimed_at: int | None = None
        self._swept_at: int | None = None
        self._deadlines_at: int | None = None
        self._checked_at: int | None = None
        self._windows_incomplete = False
        self._sweeping: asyncio.Task[None] | None = None

    async def ensure_group(self) -> None:
        """Create the consumer group (from the stream's start) unless it exists."""
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, block_ms: int | None) -> list[Entry]:
        """New entries for this consumer (waiting up to `block_ms`; None: not at all)."""
        reply: Any = await self._reader.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self.batch_size, block=block_ms
        )
        # [[stream, entries]] in RESP2, {stream: entries} in RESP3
        streams = reply.values() if isinstance(reply, dict) else [e for _, e in reply or []]
        return [(entry_id, fields) for entries in streams for entry_id, fields in entries]

    async def claim(self, min_idle_ms: int | None = None) -> list[Entry]:
        """Take over the entries other consumers read but did not acknowledge in
        `min_idle_ms` (default `claim_idle_ms`)."""
        idle = self.claim_idle_ms if min_idle_ms is None else min_idle_ms
        entries: list[Entry] = []
        cursor = "0-0"
        while len(entries) < self.batch_size:  # each call scans a page of the pending list
            reply = await self.client.xautoclaim(
                self.stream, self.group, self.consumer, idle, start_id=cursor, count=self.batch_size
            )
            entries += [(_text(i), f) for i, f in reply[1]]
            cursor = _text(reply[0])
            if cursor == "0-0":
                break
        self.counters.claimed += len(entries)
        return entries

    async def handle(self, entries: Sequence[Entry]) -> list[Recorded]:
        """Apply, acknowledge, evaluate; the health transitions this recorded."""
        if not entries:
            return []
        now_ms = self.clock()
        timer = CycleTimer()
        executions: list[Execution] = []
        for entry_id, fields in entries:
            if not fields:  # trimmed from the stream before anyone applied it
                continue
            try:
                executions.append(parse_entry(fields))
            except BadExecutionEntry as exc:
                self.counters.bad += 1
                log.error("stream entry %s skipped: %s", _text(entry_id), exc)
        agents = list(dict.fromkeys(e.agent for e in executions))
        urgent = {e.agent for e in executions if e.failed}
        slow, screens = await self._profiles(agents, urgent)
        # each agent's windows and health are read back in the same call for its evaluation
        applied, screened = await self.windows.apply_and_screen(executions, now_ms, slow, screens)
        timer.mark("windows")
        self.counters.applied += sum(applied)
        self.counters.duplicates += len(applied) - sum(applied)
        # a redelivered entry was applied before: it is not a second call for the breaker.
        # Should the worker die between the windows and here, the redelivered entries count
        # for nothing: a missed result, never a doubled one.
        fresh = [e for e, new in zip(executions, applied, strict=True) if new]
        changed = await self.breakers.apply(fresh, now_ms)
        self.counters.breaker_transitions += changed
        self.counters.acked += await self.client.xack(
            self.stream, self.group, *(entry_id for entry_id, _ in entries)
        )
        timer.mark("breakers")
        recorded: list[Recorded] = []
        if not self._windows_incomplete:  # judged once the rebuild is done, not on half the data
            try:
                recorded = await self.evaluator.evaluate_agents(agents, now_ms, urgent, screened)
            except Exception:  # health must not stop the windows; the sweep evaluates again
                log.exception("health evaluation failed for %d agents", len(agents))
        self.counters.transitions += recorded
        timer.mark("health")
        await self._alert(recorded, changed)
        timer.mark("alerts")
        self.cycles.add(len(entries), timer.finish())
        return recorded

    async def _alert(self, health: Sequence[Recorded], breakers: Sequence[Changed]) -> None:
        """Transitions become alerts (the loop logs its own failures: never the stream's)."""
        if self.alerts is not None and (health or breakers):
            await self.alerts.on_transitions(health, breakers)

    async def _slow_call_ms(self, agents: Sequence[AgentKey]) -> dict[AgentKey, int]:
        return (await self._profiles(agents))[0]

    async def _profiles(
        self, agents: Sequence[AgentKey], urgent: Collection[AgentKey] = frozenset()
    ) -> tuple[dict[AgentKey, int], dict[AgentKey, Screen]]:
        """From the agents' profiles: their slow-call thresholds and what to read back for
        the evaluation of those it will judge now (nothing when Postgres is away: the
        windows go on with the default threshold, and the evaluation reads for itself)."""
        try:
            profiles = await self.evaluator.profiles.get_many(agents)
        except Exception:
            log.exception("agent profiles unavailable; slow calls judged at the default")
            return {}, {}
        slow = {
            agent: profile.thresholds.slow_call_threshold_ms if profile else DEFAULT_SLOW_CALL_MS
            for agent, profile in profiles.items()
        }
        evaluator = self.evaluator
        screens = {
            agent: screen_of(evaluator.store, agent, profile)
            for agent, profile in profiles.items()
            if profile and evaluator.due(agent, agent in urgent)
        }
        return slow, screens

    async def step(self, block_ms: int | None) -> int:
        """One round: stale entries of dead consumers when due, then new entries, then the
        silence sweep when due. Returns how many entries it handled."""
        now_ms = self.clock()
        handled = 0
        if self._checked_at is None or now_ms - self._checked_at >= self.recovery_every_ms:
            self._checked_at = now_ms
            await self.recover()
        if self._claimed_at is None or now_ms - self._claimed_at >= self.claim_every_ms:
            self._claimed_at = now_ms
            stale = await self.claim()
            await self.handle(stale)
            handled += len(stale)
        if self.evaluator.pending:  # put off by the interval: not a whole block_ms longer
            block_ms = None if block_ms is None else min(block_ms, self.pending_every_ms)
        fresh = await self.read(None if handled else block_ms)
        await self.handle(fresh)
        handled += len(fresh)
        if self.evaluator.pending and not self._windows_incomplete:
            try:
                pending = await self.evaluator.evaluate_pending(self.clock())
                self.counters.transitions += pending
                await self._alert(pending, ())
            except Exception:
                log.exception("health evaluation of put-off agents failed")
        due = self._swept_at is None or now_ms - self._swept_at >= self.sweep_every_ms
        idle = self._sweeping is None or self._sweeping.done()
        if due and idle and not self._windows_incomplete:
            # in the background: judging every active agent (and refreshing their rows) takes
            # a while, and the stream must not wait for it
            self._swept_at = now_ms
            self._sweeping = asyncio.create_task(self._sweep())
        await self.cycles.publish_if_due(self.client)
        if self._deadlines_at is None or now_ms - self._deadlines_at >= self.deadline_every_ms:
            self._deadlines_at = now_ms
            deadlines = await self.breakers.sweep_deadlines(self.clock())
            self.counters.breaker_transitions += deadlines
            await self._alert((), deadlines)
        return handled

    async def _sweep(self) -> None:
        try:
            swept = await self.evaluator.sweep(self.clock(), interval_ms=self.sweep_every_ms)
            self.counters.transitions += swept or []
            await self._alert(swept or [], ())
        except Exception:
            log.exception("health sweep failed")

    async def finish_sweep(self) -> None:
        """Wait for a sweep still running in the background."""
        if self._sweeping is not None:
            await self._sweeping

    async def recover(self) -> Recovery | None:
        """Rebuild what Redis lost, if it lost anything (two EXISTS when it did not); while
        another worker rebuilds, this one applies the stream but judges no health."""
        try:
            recovery = await recover_if_lost(
                self.db,
                self.client,
                windows=self.windows,
                breakers=self.breakers.store,
                now_ms=self.clock(),
                slow_call_ms=self._slow_call_ms,
                clock=self.clock,
            )
            self._windows_incomplete = recovery is None and await windows_need_rebuild(self.client)
        except (RedisError, OSError):
            raise
        except Exception:  # Postgres away: the next check tries again
            log.exception("recovery after a Redis loss failed; retrying at the next check")
            return None
        if recovery is not None:
            self.counters.recoveries.append(recovery)
        return recovery

    async def run_until_idle(self) -> None:
        """Handle entries until none are left for this consumer (tests and catch-up)."""
        await self.ensure_group()
        while await self.step(None):
            pass
        await self.finish_sweep()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished (applied and
        acknowledged) before returning."""
        await self.ensure_group()
        log.info("realtime worker %s consuming %s", self.consumer, self.stream)
        while not stop.is_set():
            try:
                await self.step(self.block_ms)
            except (RedisError, OSError) as exc:
                log.warning("redis unavailable (%s); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                with contextlib.suppress(RedisError, OSError):
                    await self.ensure_group()  # a Redis that came back empty has no group
                    self._checked_at = None  # and may have lost the windows: check at once
        await self.finish_sweep()
        log.info("realtime worker %s stopped", self.consumer)
