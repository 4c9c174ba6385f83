"""Health evaluation against the live stores: read an agent's windows and recorded state,
decide with the pure `evaluate`, and record a transition (Redis compare-and-set first, then
Postgres, then pub/sub). Shared by every worker; only the worker whose compare-and-set wins
records a transition.

Agents evaluated recently are kept in a Redis sorted set, so a periodic sweep (one worker at a
time, by a lock key) also judges agents that stopped sending executions: that is how silence
and staleness are noticed.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Literal

import redis.asyncio as aioredis

from meta_agent.db import Database
from realtime.bounded import gather_bounded
from realtime.health import record
from realtime.health.evaluate import ONE_HOUR_MS, Health, Status, evaluate
from realtime.health.record import AgentProfile, Recorded
from realtime.health.store import RedisHealthStore, decode
from realtime.ttl_cache import TtlCache
from realtime.windows import AgentKey, AgentWindows, RedisWindows
from realtime.windows.store import Screen, Screened

log = logging.getLogger(__name__)

ACTIVE_AGENTS_KEY = "metaagent:health:active"
SWEEP_LOCK_KEY = "metaagent:health:sweep"


class ProfileCache(TtlCache[AgentKey, "AgentProfile | None"]):
    """Agent profiles from Postgres, each kept `ttl_s`: threshold changes apply within that."""

    def __init__(self, db: Database, *, ttl_s: float = 30.0) -> None:
        super().__init__(ttl_s=ttl_s)
        self.db = db

    async def get(self, agent: AgentKey) -> AgentProfile | None:
        fresh, kept = self.cached(agent)
        if fresh:
            return kept
        profile = await record.load_profile(self.db, agent)
        if profile is None:
            log.warning("executions of unknown agent %s of tenant %s", *_ids(agent))
        return self.keep(agent, profile)


def _ids(agent: AgentKey) -> tuple[uuid.UUID, uuid.UUID]:
    return agent.agent_id, agent.tenant_id


class HealthEvaluator:
    def __init__(
        self,
        db: Database,
        client: aioredis.Redis,
        *,
        profiles: ProfileCache | None = None,
        windows: RedisWindows | None = None,
        store: RedisHealthStore | None = None,
        refresh_interval_s: float = 10.0,
        concurrency: int = 16,
        min_interval_s: float = 0.1,
    ) -> None:
        self.db = db
        self.client = client
        self.profiles = profiles or ProfileCache(db)
        self.windows = windows or RedisWindows(client)
        self.store = store or RedisHealthStore(client)
        self.refresh_interval_s = refresh_interval_s
        self.concurrency = concurrency
        self.min_interval_s = min_interval_s
        self._evaluated: dict[AgentKey, float] = {}
        # agents a batch touched within their interval: judged once it is over
        self.pending: set[AgentKey] = set()
        self._refreshed: dict[AgentKey, float] = {}

    async def evaluate_agents(
        self,
        agents: Iterable[AgentKey],
        now_ms: int,
        urgent: Collection[AgentKey] = frozenset(),
        screened: Mapping[AgentKey, Screened] | None = None,
    ) -> list[Recorded]:
        """Evaluate each agent once (those judged in the last `min_interval_s` only when
        `urgent`: a batch brought them a failure); the transitions this call recorded.
        `screened`: windows and health already read for some of them (`screen_of`)."""
        wanted = list(dict.fromkeys(agents))
        if wanted:
            await self.client.zadd(ACTIVE_AGENTS_KEY, {_member(a): now_ms for a in wanted})
        # A busy agent is in every batch; judging it again within `min_interval_s` would
        # mostly repeat the last answer. A failure can make it worse, so it is judged at once;
        # anything else is judged once its interval is over (`evaluate_pending`).
        moment = time.monotonic()
        due = []
        for agent in wanted:
            if self.due(agent, agent in urgent, moment):
                due.append(agent)
            else:
                self.pending.add(agent)
        return await self._judge(due, now_ms, moment, screened or {})

    def due(self, agent: AgentKey, urgent: bool, moment: float | None = None) -> bool:
        """Whether `evaluate_agents` judges the agent now (at `moment`, monotonic seconds):
        when a failure makes it `urgent`, or its last judgement is `min_interval_s` old."""
        now = time.monotonic() if moment is None else moment
        return urgent or now - self._evaluated.get(agent, -math.inf) >= self.min_interval_s

    async def evaluate_pending(self, now_ms: int) -> list[Recorded]:
        """Judge the agents put off by `evaluate_agents` whose interval is over."""
        moment = time.monotonic()
        due = [
            a
            for a in self.pending
            if moment - self._evaluated.get(a, -math.inf) >= self.min_interval_s
        ]
        return await self._judge(due, now_ms, moment)

    async def _judge(
        self,
        agents: list[AgentKey],
        now_ms: int,
        moment: float,
        screened: Mapping[AgentKey, Screened] | None = None,
    ) -> list[Recorded]:
        """Screen every agent with one round trip (recorded states and cheap windows; none
        for those `screened` already), then take the agents whose state would change through
        `evaluate_agent`, which reads every number and records the transition."""
        for agent in agents:
            self._evaluated[agent] = moment
            self.pending.discard(agent)
        profiles = await self.profiles.get_many(agents)
        known = [a for a in agents if profiles[a] is not None]
        fresh = screened or {}
        read_now = [a for a in known if a not in fresh]
        currents = await self.store.load_many(read_now)
        reads = await self.windows.read_many(
            [(a, judged_latency(profiles[a])) for a in read_now], now_ms
        )
        judged: dict[AgentKey, tuple[tuple[Status, int] | None, AgentWindows]] = {
            a: (decode(fresh[a][1]), fresh[a][0]) for a in known if a in fresh
        }
        judged.update(zip(read_now, zip(currents, reads, strict=True), strict=True))
        moving = []
        for agent in known:
            current, windows = judged[agent]
            profile = profiles[agent]
            assert profile is not None
            if current is None or evaluate(windows, profile.thresholds, current[0], now_ms).changed:
                moving.append(agent)
        results = await self._each(moving, now_ms, refresh=False)
        return [r for r in results if r is not None]

    async def _each(
        self, agents: list[AgentKey], now_ms: int, *, refresh: bool
    ) -> list[Recorded | None]:
        """Evaluate agents concurrently, at most `concurrency` at once: each holds a Redis and
        at times a Postgres connection, and both pools are bounded."""
        return await gather_bounded(
            self.concurrency, agents, lambda a: self.evaluate_agent(a, now_ms, refresh=refresh)
        )

    async def evaluate_agent(
        self, agent: AgentKey, now_ms: int, *, refresh: bool = True
    ) -> Recorded | None:
        """Judge one agent; record a transition. With `refresh` (the sweep's), also rewrite
        its row's numbers when they are `refresh_interval_s` old: the batch path leaves that
        to the sweep, so the stream never waits on a round of full reads and row writes."""
        profile = await self.profiles.get(agent)
        if profile is None:
            return None
        current = await self.store.load(agent)
        if current is None:
            await self.store.seed(agent, profile.status, profile.version)
            current = await self.store.load(agent)
            assert current is not None
        status, version = current
        windows = await self.windows.read(agent, now_ms, latency=judged_latency(profile))
        evaluation = evaluate(windows, profile.thresholds, status, now_ms)
        last = self._refreshed.get(agent)
        refresh = refresh and (last is None or time.monotonic() - last >= self.refresh_interval_s)
        if evaluation.changed or refresh:  # what is recorded carries every number
            windows = await self.windows.read(agent, now_ms)
            evaluation = evaluate(windows, profile.thresholds, status, now_ms)
        if evaluation.changed:
            new_version = await self.store.commit(agent, version, evaluation.state, now_ms)
            if new_version is None:
                return None  # another worker moved it first and records that
            recorded = Recorded(
                agent, status.state, evaluation, windows, new_version, now_ms, now_ms
            )
            await record.write(self.db, recorded)
            self._refreshed[agent] = time.monotonic()
            await record.publish(self.client, recorded)
            return recorded
        if refresh:
            # the row's numbers, between transitions; the version guards against a late write
            self._refreshed[agent] = time.monotonic()
            numbers = Recorded(
                agent, status.state, evaluation, windows, version, status.since_ms, now_ms
            )
            await record.write(self.db, numbers)
        return None

    async def sweep(self, now_ms: int, *, interval_ms: int = 10_000) -> list[Recorded] | None:
        """Evaluate every recently active agent, if no other worker did in `interval_ms`;
        None when another worker holds the turn. Agents idle for over an hour leave the set
        once they are `unknown`."""
        if not await self.client.set(SWEEP_LOCK_KEY, str(now_ms), nx=True, px=interval_ms):
            return None
        members = await self.client.zrange(ACTIVE_AGENTS_KEY, 0, -1)
        agents = [_agent(m) for m in members if isinstance(m, bytes | str)]
        recorded = await self._each(agents, now_ms, refresh=True)
        currents = await self.store.load_many(agents)
        reads = await self.windows.read_many([(a, "none") for a in agents], now_ms)
        gone = []
        for agent, current, windows in zip(agents, currents, reads, strict=True):
            idle = windows.last_execution_ms is None or (
                now_ms - windows.last_execution_ms >= ONE_HOUR_MS
            )
            if idle and (current is None or current[0].state is Health.UNKNOWN):
                gone.append(_member(agent))
        if gone:
            await self.client.zrem(ACTIVE_AGENTS_KEY, *gone)
        return [r for r in recorded if r is not None]


def judged_latency(profile: AgentProfile | None) -> Literal["five_minutes", "none"]:
    """The cheap read of an evaluation: counts, and the 5-minute p95 only where an SLA
    judges it."""
    return "five_minutes" if profile and profile.thresholds.sla_p95_ms is not None else "none"


def screen_of(store: RedisHealthStore, agent: AgentKey, profile: AgentProfile | None) -> Screen:
    """What `RedisWindows.apply_and_screen` reads back for an evaluation of the agent."""
    return Screen(judged_latency(profile), store.key(agent))


def _member(agent: AgentKey) -> str:
    return f"{agent.tenant_id}:{agent.agent_id}"


def _agent(member: bytes | str) -> AgentKey:
    text = member.decode() if isinstance(member, bytes) else member
    tenant, _, agent = text.partition(":")
    return AgentKey(uuid.UUID(tenant), uuid.UUID(agent))
