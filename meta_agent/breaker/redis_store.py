"""`BreakerStore` on Redis: each operation is one call of `breaker.lua` (EVALSHA, loaded again
on NOSCRIPT), so acquire, result and transition are atomic across every process that shares
the Redis. The protected call itself runs outside: no lock is held while it runs.

Keys: `<prefix>:{<tenant>:<agent>}` (state) and `…:window`; the hash tag keeps both of a
breaker in one cluster slot. `<prefix>:probe_deadlines` (a sorted set) holds the breakers with
a probe out, scored by its deadline, for the realtime sweep. Memory per breaker: about 15
state fields plus one field per count-window call or four per time-window second (bounded by
the config limits).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from meta_agent.breaker import core
from meta_agent.breaker.config import BreakerConfig
from meta_agent.breaker.script_format import (
    SCRIPT,
    as_text,
    check_now,
    config_args,
    decode_decision,
    decode_state,
    decode_transitions,
    outcome_args,
    result_args,
)
from meta_agent.breaker.state import (
    AUTOMATIC_ACTOR,
    Acquisition,
    BreakerState,
    Decision,
    Outcome,
    Permit,
    State,
    Transition,
)
from meta_agent.breaker.store import BreakerKey, CallResult

DEFAULT_PREFIX = "metaagent:breaker"
# bounds one script call (and the time Redis spends in it) when a batch is one busy agent's
_MAX_RESULTS_PER_CALL = 256


class RedisBreakerStore:
    """Breakers in one Redis; safe to share between tasks and processes."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(SCRIPT)
        self._restored_key = f"{prefix}:restored_at"
        self._deadlines_key = f"{prefix}:probe_deadlines"

    def keys(self, key: BreakerKey) -> list[str]:
        state = f"{self.prefix}:{{{key.tenant_id}:{key.agent_id}}}"
        return [state, f"{state}:window"]

    async def _run(self, key: BreakerKey, args: list[str]) -> list[Any]:
        reply = await self._script(keys=self.keys(key), args=args)
        return list(reply)

    async def _step(
        self,
        key: BreakerKey,
        config: BreakerConfig,
        op: str,
        now_ms: int,
        extra: list[str],
        actor: str = AUTOMATIC_ACTOR,
        reason: str = "",
    ) -> tuple[Decision | None, tuple[Transition, ...]]:
        check_now(now_ms)
        args = [op, str(now_ms), *config_args(config), *extra]
        reply = [as_text(v) for v in await self._run(key, args)]
        decision = None
        if op == "acquire":
            decision, reply = decode_decision(reply[:5]), reply[5:]
        return decision, tuple(t for _, t in decode_transitions(config, reply, actor, reason))

    async def try_acquire(self, key: BreakerKey, config: BreakerConfig, now_ms: int) -> Acquisition:
        decision, transitions = await self._step(key, config, "acquire", now_ms, [])
        assert decision is not None
        if isinstance(decision, Permit) and decision.deadline_ms is not None:
            # a probe that never reports is judged at its deadline by the realtime sweep,
            # even when no other call comes to move the breaker
            member = f"{key.tenant_id}:{key.agent_id}"
            await self.client.zadd(self._deadlines_key, {member: decision.deadline_ms}, lt=True)
        return Acquisition(decision, transitions)

    async def due_deadlines(self, now_ms: int, limit: int = 1_000) -> list[BreakerKey]:
        """Breakers with a probe deadline at or before `now_ms` (see `try_acquire`)."""
        members = await self.client.zrangebyscore(
            self._deadlines_key, "-inf", now_ms, start=0, num=limit
        )
        keys = []
        for member in members:
            tenant, _, agent = as_text(member).partition(":")
            keys.append(BreakerKey(uuid.UUID(tenant), uuid.UUID(agent)))
        return keys

    async def reschedule(self, key: BreakerKey, deadline_ms: int | None) -> None:
        """After `advance`: watch the breaker's next probe deadline, or stop watching it."""
        member = f"{key.tenant_id}:{key.agent_id}"
        if deadline_ms is None:
            await self.client.zrem(self._deadlines_key, member)
        else:
            await self.client.zadd(self._deadlines_key, {member: deadline_ms})

    async def on_result(
        self,
        key: BreakerKey,
        config: BreakerConfig,
        permit: Permit | None,
        outcome: Outcome,
        duration_ms: int,
        now_ms: int,
    ) -> tuple[Transition, ...]:
        extra = result_args(CallResult(key, config, outcome, duration_ms, now_ms, permit))
        return (await self._step(key, config, "results", now_ms, extra))[1]

    async def on_results(self, results: Sequence[CallResult]) -> list[tuple[Transition, ...]]:
        """One pipelined round trip for the batch (plus a SCRIPT EXISTS). The results of one
        breaker go in one script call, so it is loaded and stored once for all of them; they
        are applied in the order given, exactly as one `on_result` each would apply them."""
        runs: dict[BreakerKey, list[int]] = {}
        for index, r in enumerate(results):
            runs.setdefault(r.key, []).append(index)
        for indexes in runs.values():
            first = results[indexes[0]].config
            # (`is` first: comparing a config goes field by field, and the cache hands out one)
            if any(results[i].config is not first and results[i].config != first for i in indexes):
                # one breaker under two configs in one batch: keep the order between them exact
                return [await self._results_in_order(r) for r in results]
        calls: list[tuple[BreakerConfig, list[int]]] = []
        async with self.client.pipeline(transaction=False) as pipe:
            for key, indexes in runs.items():
                config = results[indexes[0]].config
                for start in range(0, len(indexes), _MAX_RESULTS_PER_CALL):
                    chunk = indexes[start : start + _MAX_RESULTS_PER_CALL]
                    now_ms = results[chunk[0]].now_ms
                    check_now(now_ms)
                    plain = all(
                        results[i].permit is None and results[i].now_ms == now_ms for i in chunk
                    )
                    args = ["outcomes" if plain else "results", str(now_ms), *config_args(config)]
                    encode = outcome_args if plain else result_args
                    for index in chunk:
                        args += encode(results[index])
                    await self._script(keys=self.keys(key), args=args, client=pipe)
                    calls.append((config, chunk))
            replies = await pipe.execute()
        done: list[tuple[Transition, ...]] = [()] * len(results)
        for (config, chunk), reply in zip(calls, replies, strict=True):
            fields = [as_text(v) for v in reply]
            for item, transition in decode_transitions(config, fields, AUTOMATIC_ACTOR, ""):
                done[chunk[item]] += (transition,)
        return done

    async def _results_in_order(self, r: CallResult) -> tuple[Transition, ...]:
        return await self.on_result(r.key, r.config, r.permit, r.outcome, r.duration_ms, r.now_ms)

    async def advance(
        self, key: BreakerKey, config: BreakerConfig, now_ms: int
    ) -> tuple[Transition, ...]:
        return (await self._step(key, config, "advance", now_ms, []))[1]

    async def force(
        self,
        key: BreakerKey,
        config: BreakerConfig,
        target: State,
        actor: str,
        reason: str,
        now_ms: int,
    ) -> tuple[Transition, ...]:
        # the pure core validates; its result is discarded, Redis decides
        core.force(config, BreakerState(), target, actor, reason, now_ms)
        extra = [State(target).value, actor, reason]
        return (await self._step(key, config, "force", now_ms, extra, actor, reason))[1]

    async def reset(
        self, key: BreakerKey, config: BreakerConfig, actor: str, reason: str, now_ms: int
    ) -> tuple[Transition, ...]:
        core.reset(config, BreakerState(), actor, reason, now_ms)
        return (await self._step(key, config, "reset", now_ms, [], actor, reason))[1]

    async def reconfigure(
        self, key: BreakerKey, config: BreakerConfig, actor: str, reason: str, now_ms: int
    ) -> tuple[Transition, ...]:
        core.reconfigure(config, BreakerState(), actor, reason, now_ms)
        return (await self._step(key, config, "reconfigure", now_ms, [], actor, reason))[1]

    async def load(self, key: BreakerKey) -> BreakerState:
        state_key, window_key = self.keys(key)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(state_key)
            pipe.hgetall(window_key)
            raw_state, raw_window = await pipe.execute()
        return decode_state(
            {as_text(k): as_text(v) for k, v in raw_state.items()},
            {as_text(k): as_text(v) for k, v in raw_window.items()},
        )

    async def restore(self, key: BreakerKey, state: BreakerState) -> bool:
        if state.window.calls:
            raise ValueError("only a state with an empty window can be restored")
        values = [
            state.state.value,
            state.version,
            state.changed_ms,
            state.clock_ms,
            state.opened_ms,
            state.open_until_ms,
            state.consecutive_opens,
            state.consecutive_failures,
            state.probe_limit,
            state.probes_issued,
            state.probes_succeeded,
            state.forced_by,
            state.forced_reason,
        ]
        args = ["restore", "0", *[""] * 13, *("" if v is None else str(v) for v in values)]
        for slot, deadline in state.probe_deadlines:
            args += [str(slot), str(deadline)]
        reply = await self._run(key, args)
        return int(reply[0]) == 1

    async def needs_restore(self) -> bool:
        return not await self.client.exists(self._restored_key)

    async def mark_restored(self, now_ms: int) -> None:
        await self.client.set(self._restored_key, str(now_ms))
