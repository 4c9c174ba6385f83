"""The breakers' side of the worker: each newly applied execution is a call result for its
agent's breaker; the transitions it causes are written to Postgres and published on the
tenant's channel. A periodic sweep judges half-open probes whose deadline passed with no call
to move the breaker, so a hung probe reopens it on time rather than at the next call.

Only executions the windows applied for the first time reach the breaker: a redelivered
stream entry is not a second call. A probe's execution carries its permit token (see
`meta_agent.breaker.permit_token`), so its result reports against the slot it was given.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence

import redis.asyncio as aioredis

from meta_agent.breaker import (
    BreakerConfig,
    BreakerKey,
    CallResult,
    Outcome,
    RedisBreakerStore,
    Transition,
    load_config,
    permit_token,
    persist_many,
)
from meta_agent.db import Database
from meta_agent.events import publish_breakers
from realtime.ttl_cache import TtlCache
from realtime.windows import Execution

log = logging.getLogger(__name__)

Changed = tuple[BreakerKey, tuple[Transition, ...]]


class ConfigCache(TtlCache[BreakerKey, BreakerConfig]):
    """Breaker configurations from Postgres, each kept `ttl_s`. When Postgres cannot be read,
    the last configuration known (or the defaults) keeps the breaker deciding."""

    def __init__(self, db: Database, *, ttl_s: float = 30.0) -> None:
        super().__init__(ttl_s=ttl_s)
        self.db = db

    async def get(self, key: BreakerKey) -> BreakerConfig:
        fresh, kept = self.cached(key)
        if fresh and kept is not None:
            return kept
        try:
            config = await load_config(self.db, key)
        except Exception:  # a broken row or Postgres away: keep deciding on what we had
            log.exception("breaker config of agent %s unavailable", key.agent_id)
            config = kept if kept is not None else BreakerConfig()
        return self.keep(key, config)


class BreakerEvaluator:
    def __init__(
        self,
        db: Database,
        client: aioredis.Redis,
        *,
        store: RedisBreakerStore | None = None,
        configs: ConfigCache | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.store = store or RedisBreakerStore(client)
        self.configs = configs or ConfigCache(db)

    async def apply(self, executions: Sequence[Execution], now_ms: int) -> list[Changed]:
        """Feed finished executions to their breakers (one round trip); record and publish
        what changed. Returns the transitions by breaker."""
        finished = [e for e in executions if e.finished]
        if not finished:
            return []
        configs = await self.configs.get_many(e.agent for e in finished)
        results = [
            CallResult(
                key=e.agent,
                config=configs[e.agent],
                outcome=Outcome.FAILURE if e.failed else Outcome.SUCCESS,
                duration_ms=e.duration_ms or 0,
                now_ms=now_ms,
                permit=permit_token.decode(e.permit),
            )
            for e in finished
        ]
        outcomes = await self.store.on_results(results)
        by_key: dict[BreakerKey, tuple[Transition, ...]] = {}
        for result, transitions in zip(results, outcomes, strict=True):
            if transitions:
                by_key[result.key] = by_key.get(result.key, ()) + transitions
        return await self.record(by_key.items())

    async def record(self, changed: Iterable[Changed]) -> list[Changed]:
        """Persist (Postgres first: it is the record) and publish the breakers' transitions:
        one transaction per tenant and one round trip of publishes, however many breakers
        an outage moved at once."""
        done = [(key, transitions) for key, transitions in changed if transitions]
        if not done:  # the usual batch, and the usual deadline sweep
            return []
        by_tenant: dict[uuid.UUID, list[Changed]] = {}
        for key, transitions in done:
            by_tenant.setdefault(key.tenant_id, []).append((key, transitions))
        for tenant_id, items in by_tenant.items():
            try:
                await persist_many(self.db, items)
            except Exception:  # Redis decided; a later transition's row supersedes these
                log.exception("breaker transitions of tenant %s not persisted", tenant_id)
        try:
            await publish_breakers(self.client, done)
        except Exception:
            log.exception("breaker transitions of %d breakers not published", len(done))
        for key, transitions in done:
            for t in transitions:
                log.info(
                    "breaker %s: %s -> %s (%s) %s",
                    key.agent_id,
                    t.from_state,
                    t.to_state,
                    t.cause,
                    t.reason,
                )
        return done

    async def sweep_deadlines(self, now_ms: int) -> list[Changed]:
        """Advance every breaker whose probe deadline has passed."""
        changed = []
        for key in await self.store.due_deadlines(now_ms):
            config = await self.configs.get(key)
            transitions = await self.store.advance(key, config, now_ms)
            state = await self.store.load(key)
            await self.store.reschedule(key, state.half_open_deadline_ms)
            if transitions:
                changed.append((key, transitions))
        return await self.record(changed)
