"""`BreakerStore` on Redis: each operation is one call of `breaker.lua` (EVALSHA, loaded again
on NOSCRIPT), so acquire, result and transition are atomic across every process that shares
the Redis. The protected call itself runs outside: no lock is held while it runs.

Keys: `<prefix>:{<tenant>:<agent>}` (state) and `…:window`; the hash tag keeps both of a
breaker in one cluster slot. Memory per breaker: about 15 state fields plus one field per
count-window call or four per time-window second (bounded by the config limits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from realtime.breaker import core
from realtime.breaker.config import BreakerConfig, WindowKind
from realtime.breaker.state import (
    AUTOMATIC_ACTOR,
    Acquisition,
    BreakerState,
    Bucket,
    Cause,
    Decision,
    Outcome,
    Permit,
    PermitKind,
    Rejected,
    State,
    Transition,
    Window,
)
from realtime.breaker.store import BreakerKey, CallResult

DEFAULT_PREFIX = "metaagent:breaker"
_TRANSITION_FIELDS = 19
# bounds one script call (and the time Redis spends in it) when a batch is one busy agent's
_MAX_RESULTS_PER_CALL = 256
SCRIPT = resources.files("realtime.breaker").joinpath("breaker.lua").read_text(encoding="utf-8")


@lru_cache(maxsize=4096)
def config_args(config: BreakerConfig) -> tuple[str, ...]:
    """ARGV[3..15] of the script. Floats as `repr`, which round-trips: Lua parses the same
    double Python holds."""
    return (
        "1" if config.enabled else "0",
        config.window_kind.value,
        str(config.window_size),
        str(config.min_calls),
        repr(config.failure_rate_threshold),
        str(config.slow_call_duration_ms),
        repr(config.slow_call_rate_threshold),
        str(config.consecutive_failures_threshold or 0),
        str(config.open_duration_ms),
        repr(config.backoff_multiplier),
        str(config.max_open_duration_ms),
        str(config.half_open_permitted_probes),
        str(config.half_open_deadline_ms),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _opt_int(value: Any) -> int | None:
    text = _text(value)
    return int(text) if text else None


def _opt_str(value: Any) -> str | None:
    text = _text(value)
    return text or None


def _check_now(now_ms: int) -> None:
    if now_ms < 0:
        raise ValueError(f"now_ms cannot be negative, got {now_ms}")


class RedisBreakerStore:
    """Breakers in one Redis; safe to share between tasks and processes."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(SCRIPT)
        self._restored_key = f"{prefix}:restored_at"

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
        _check_now(now_ms)
        args = [op, str(now_ms), *config_args(config), *extra]
        reply = [_text(v) for v in await self._run(key, args)]
        decision = None
        if op == "acquire":
            decision, reply = _decision(reply[:5]), reply[5:]
        return decision, tuple(t for _, t in _transitions(config, reply, actor, reason))

    async def try_acquire(self, key: BreakerKey, config: BreakerConfig, now_ms: int) -> Acquisition:
        decision, transitions = await self._step(key, config, "acquire", now_ms, [])
        assert decision is not None
        return Acquisition(decision, transitions)

    async def on_result(
        self,
        key: BreakerKey,
        config: BreakerConfig,
        permit: Permit | None,
        outcome: Outcome,
        duration_ms: int,
        now_ms: int,
    ) -> tuple[Transition, ...]:
        extra = _result_args(CallResult(key, config, outcome, duration_ms, now_ms, permit))
        return (await self._step(key, config, "results", now_ms, extra))[1]

    async def on_results(self, results: Sequence[CallResult]) -> list[tuple[Transition, ...]]:
        """One pipelined round trip for the batch (plus a SCRIPT EXISTS). The results of one
        breaker go in one script call, so it is loaded and stored once for all of them; they
        are applied in the order given, exactly as one `on_result` each would apply them."""
        runs: dict[tuple[BreakerKey, BreakerConfig], list[int]] = {}
        for index, r in enumerate(results):
            runs.setdefault((r.key, r.config), []).append(index)
        if len({key for key, _ in runs}) < len(runs):
            # one breaker under two configs in one batch: keep the order between them exact
            return [await self._results_in_order(r) for r in results]
        calls: list[tuple[BreakerConfig, list[int]]] = []
        async with self.client.pipeline(transaction=False) as pipe:
            for (key, config), indexes in runs.items():
                for start in range(0, len(indexes), _MAX_RESULTS_PER_CALL):
                    chunk = indexes[start : start + _MAX_RESULTS_PER_CALL]
                    args = ["results", str(results[chunk[0]].now_ms), *config_args(config)]
                    for index in chunk:
                        args += _result_args(results[index])
                    await self._script(keys=self.keys(key), args=args, client=pipe)
                    calls.append((config, chunk))
            replies = await pipe.execute()
        done: list[tuple[Transition, ...]] = [()] * len(results)
        for (config, chunk), reply in zip(calls, replies, strict=True):
            fields = [_text(v) for v in reply]
            for item, transition in _transitions(config, fields, AUTOMATIC_ACTOR, ""):
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
        return _decode_state(
            {_text(k): _text(v) for k, v in raw_state.items()},
            {_text(k): _text(v) for k, v in raw_window.items()},
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


def _result_args(r: CallResult) -> list[str]:
    """The 7 script arguments of one result."""
    if r.duration_ms < 0:
        raise ValueError(f"duration_ms cannot be negative, got {r.duration_ms}")
    _check_now(r.now_ms)
    held = ["", "", "", ""]
    if r.permit is not None:
        held = [
            r.permit.kind.value,
            str(r.permit.version),
            "" if r.permit.slot is None else str(r.permit.slot),
            "" if r.permit.deadline_ms is None else str(r.permit.deadline_ms),
        ]
    return [*held, Outcome(r.outcome).value, str(r.duration_ms), str(r.now_ms)]


def _decision(fields: list[str]) -> Decision | None:
    tag, first, second, third, fourth = fields
    if tag == "permit":
        return Permit(PermitKind(first), int(second), _opt_int(third), _opt_int(fourth))
    if tag == "rejected":
        return Rejected(State(first), _opt_int(second))
    return None


def _transitions(
    config: BreakerConfig, fields: list[str], actor: str, reason: str
) -> list[tuple[int, Transition]]:
    """The transitions of a reply, each with the index of the result that caused it."""
    return [
        _transition(config, fields[i : i + _TRANSITION_FIELDS], actor, reason)
        for i in range(0, len(fields), _TRANSITION_FIELDS)
    ]


def _transition(
    config: BreakerConfig, fields: list[str], actor: str, reason: str
) -> tuple[int, Transition]:
    (
        item,
        from_state,
        to_state,
        cause,
        version,
        at_ms,
        calls,
        failures,
        slow_calls,
        consecutive_failures,
        probes_succeeded,
        consecutive_opens,
        opened_ms,
        open_until_ms,
        probe_limit,
        probes_issued,
        probes_out,
        forced_by,
        forced_reason,
    ) = fields
    out = sorted(
        (int(slot), int(deadline))
        for slot, _, deadline in (p.partition(":") for p in probes_out.split(",") if p)
    )
    record = Transition(
        from_state=State(from_state),
        to_state=State(to_state),
        cause=Cause(cause),
        version=int(version),
        at_ms=int(at_ms),
        actor=actor,
        reason=reason,
        calls=int(calls),
        failures=int(failures),
        slow_calls=int(slow_calls),
        consecutive_failures=int(consecutive_failures),
        probes_succeeded=int(probes_succeeded),
        consecutive_opens=int(consecutive_opens),
        opened_ms=_opt_int(opened_ms),
        open_until_ms=_opt_int(open_until_ms),
        probe_limit=int(probe_limit),
        probes_issued=int(probes_issued),
        probes_out=tuple(out),
        forced_by=_opt_str(forced_by),
        forced_reason=_opt_str(forced_reason),
    )
    if actor == AUTOMATIC_ACTOR and not reason:
        record = replace(record, reason=core.describe(config, record))
    return int(item), record


def _decode_state(h: dict[str, str], w: dict[str, str]) -> BreakerState:
    if not h:
        return BreakerState()
    shape = h.get("sh", "")
    kind, _, size_text = shape.partition(":")
    window = Window(shape)
    if kind == WindowKind.COUNT and w:
        size, n = int(size_text), int(w.get("n", "0"))
        outcomes = tuple(int(w[f"o{i % size}"]) for i in range(max(0, n - size), n))
        window = Window(shape, outcomes=outcomes)
    elif kind == WindowKind.TIME and w:
        slots = [f[1:] for f in w if f.startswith("e")]
        buckets = sorted(
            (
                Bucket(int(w[f"e{i}"]), int(w[f"c{i}"]), int(w[f"f{i}"]), int(w[f"s{i}"]))
                for i in slots
            ),
            key=lambda b: b.second,
        )
        window = Window(shape, buckets=tuple(buckets))
    deadlines = sorted((int(f[1:]), int(v)) for f, v in h.items() if f.startswith("d"))
    return BreakerState(
        state=State(h["st"]),
        version=int(h["v"]),
        changed_ms=int(h["ch"]),
        clock_ms=int(h["clk"]),
        opened_ms=_opt_int(h.get("oa", "")),
        open_until_ms=_opt_int(h.get("ou", "")),
        consecutive_opens=int(h["co"]),
        consecutive_failures=int(h["cf"]),
        probe_limit=int(h["pl"]),
        probes_issued=int(h["pi"]),
        probes_succeeded=int(h["ps"]),
        probe_deadlines=tuple(deadlines),
        forced_by=h.get("fb"),
        forced_reason=h.get("fr"),
        window=window,
    )
