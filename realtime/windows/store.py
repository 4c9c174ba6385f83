"""Per-agent windows in Redis: 10-second buckets for the 5-minute window, 1-minute buckets for
the 1-hour window, applied by `apply.lua` (one atomic call per agent and batch, pipelined).

Buckets are aligned to the epoch. At `now`, the 5-minute window is the 30 ten-second buckets
up to and including the current one, and the 1-hour window the 60 one-minute buckets up to and
including the current one (so they span 4 min 50 s to 5 min, and 59 to 60 min). The 1-hour
window rolls up minutes rather than 360 ten-second buckets: a quarter of the keys to keep and
to read on every evaluation, and the same counts at minute edges.

An execution goes into its 10-second bucket only; as the bucket leaves the five minutes it is
rolled, whole, into its minute's bucket and the hour's running sum (sums.lua), so the 1-hour
window is the hour's sum plus the 5-minute sum. Before, every execution went into both
buckets and both sums: twice the calls of the busiest part of a script call, for a bucket
that changes only once per 10 seconds. An execution that ends before the five minutes (a
late one, a rebuild from Postgres) goes straight into its minute.

Keys, all under one hash tag per agent (one cluster slot, so one script may touch them all):
  `<prefix>:{<tenant>:<agent>}:a:s:<10 s index>` / `…:a:m:<minute index>`  agent buckets
  `…:a:counters:s` / `…:a:counters:m`                     the windows' running sums (sums.lua)
  `…:v:<prompt version>|<variant>:s:<i>` / `…:m:<i>` / `…:counters:…`  the same per variant
  `…:variants` (set), `…:seen:<10 s index>` (execution ids: a hash, or a set once the
  agent is busy, see apply.lua), `…:last`, `…:fails`
Fields of a bucket: n executions, f failures, s slow calls, c cost (1e-8 USD), ti / to
tokens, and one field per latency bin (`sketch`). A 10-second bucket is deleted when it is
rolled; every key expires at the latest once its minute has left the hour (ten seconds of
margin), so an agent's memory is bounded by its last hour.

Redis runs one script at a time, and every call a script makes costs about as much as the
arithmetic of a dozen fields, so the work is arranged around the number of calls: the worker
sums a batch per bucket before the script call (`_Sums`); one call per agent applies it; a
bucket takes one HMGET and one HSET, a running sum one BITFIELD (and once per 10 seconds, a
rolled bucket as much again); and the same call reads back what the agent's health
evaluation needs (`apply_and_screen`).

Idempotency: an execution id is remembered in its 10-second bucket's seen-ids for as long
as that bucket can still count, and an execution too old to count is not applied at all. A
batch holding an execution applied before is applied not at all, and sent again without it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any, Literal

import redis.asyncio as aioredis

from meta_agent.agent_key import AgentKey
from meta_agent.health_thresholds import DEFAULT_SLOW_CALL_MS
from realtime.windows import sketch
from realtime.windows.execution import COST_UNITS_PER_USD, Execution

# The layout of the keys below; a new one lives under a new prefix, and the worker rebuilds its
# last hour from Postgres (`realtime.recovery`) as after a Redis loss. 2: 10-second buckets roll
# into the hour as they leave the five minutes (sums.lua).
LAYOUT = 2
DEFAULT_PREFIX = f"metaagent:win:{LAYOUT}"


def _lua(name: str) -> str:
    return resources.files("realtime.windows").joinpath(name).read_text(encoding="utf-8")


# both scripts keep the running window sums (sums.lua) up to date
SCRIPT = _lua("sums.lua") + _lua("apply.lua")
READ_SCRIPT = _lua("sums.lua") + _lua("read.lua")
# which windows' latency percentiles a read merges; the others give counts only
Latency = Literal["both", "five_minutes", "none"]

SHORT_BUCKET_MS = 10_000
SHORT_BUCKETS = 30  # the 5-minute window
LONG_BUCKET_MS = 60_000
LONG_BUCKETS = 60  # the 1-hour window
EXPIRY_MARGIN_MS = 10_000
# A running sum lives an hour after it last moved, the 5-minute one too: where it stopped
# tells which 10-second buckets below it are still to roll into the hour (sums.lua), so an
# agent back after a pause rolls those, not every bucket the hour could hold.
SUM_TTL_MS = LONG_BUCKETS * LONG_BUCKET_MS + EXPIRY_MARGIN_MS
# consecutive failures are counted exactly up to this many
MAX_CONSECUTIVE_FAILURES = 1_000
QUANTILES = (0.5, 0.95, 0.99)
# a window sum as stored (sums.lua): i64 counters (its lowest bucket, six totals, 64 bucket
# markers), then the u32 latency counters
_SUM_TOTALS = struct.Struct(">8x6q")
_SUM_BINS_AT = 8 * (1 + 6 + 64)


@dataclass(frozen=True)
class WindowStats:
    """The numbers of one window."""

    executions: int = 0
    failures: int = 0
    slow_calls: int = 0
    cost_usd: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.executions if self.executions else None

    @property
    def slow_call_rate(self) -> float | None:
        return self.slow_calls / self.executions if self.executions else None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_sums(cls, *replies: Any, latency: bool = True) -> WindowStats:
        """The window of `read.lua` replies added together (the 1-hour window is the hour's
        sum and the 5-minute one): each a sum as stored, or six totals and a flat (bin,
        count) histogram. Percentiles only with `latency` (every reply then holds its
        histogram)."""
        totals = [0] * 6
        for reply in replies:
            values = (
                _SUM_TOTALS.unpack_from(reply.ljust(_SUM_TOTALS.size, b"\0"))
                if isinstance(reply, bytes)
                else reply[:6]
            )
            totals = [t + int(v) for t, v in zip(totals, values, strict=True)]
        if not latency:
            p50 = p95 = p99 = None
        elif len(replies) == 1 and isinstance(replies[0], bytes):
            p50, p95, p99 = sketch.counter_quantiles(replies[0][_SUM_BINS_AT:], QUANTILES)
        else:
            merged = sketch.merge(_histogram(reply) for reply in replies)
            p50, p95, p99 = sketch.quantiles(merged, QUANTILES)
        n, f, s, c, ti, to = totals
        return cls(
            executions=n,
            failures=f,
            slow_calls=s,
            cost_usd=Decimal(c) / COST_UNITS_PER_USD,
            input_tokens=ti,
            output_tokens=to,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_p99_ms=p99,
        )

    @classmethod
    def from_buckets(cls, buckets: Iterable[Mapping[str, int]]) -> WindowStats:
        totals = {"n": 0, "f": 0, "s": 0, "c": 0, "ti": 0, "to": 0}
        histogram: dict[int, int] = {}
        for bucket in buckets:
            for name, count in bucket.items():
                if name in totals:
                    totals[name] += count
                else:
                    index = int(name)
                    histogram[index] = histogram.get(index, 0) + count
        p50, p95, p99 = sketch.quantiles(histogram, QUANTILES)
        return cls(
            executions=totals["n"],
            failures=totals["f"],
            slow_calls=totals["s"],
            cost_usd=Decimal(totals["c"]) / COST_UNITS_PER_USD,
            input_tokens=totals["ti"],
            output_tokens=totals["to"],
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_p99_ms=p99,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (cost as a float)."""
        return {
            "executions": self.executions,
            "failures": self.failures,
            "error_rate": self.error_rate,
            "slow_calls": self.slow_calls,
            "slow_call_rate": self.slow_call_rate,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "cost_usd": float(self.cost_usd),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


@dataclass(frozen=True)
class AgentWindows:
    """What health evaluation reads for one agent (or one variant of it) at one moment."""

    five_minutes: WindowStats
    one_hour: WindowStats
    # agent-wide, also when the windows are a variant's
    last_execution_ms: int | None
    consecutive_failures: int


@dataclass(frozen=True)
class Screen:
    """What to read back for an agent when its executions are applied: the windows with
    `latency` (as `read`), and its health hash (`realtime.health.store`)."""

    latency: Literal["none", "five_minutes"]
    health_key: str


# an agent's windows read right after its executions were applied, and its health hash's
# state, since and version fields (None for those it lacks)
Screened = tuple[AgentWindows, list[Any]]
# the hour window of a screen has counts only: an evaluation judges no hourly latency
_SCREENS = {"none": "counts", "five_minutes": "latency"}


def _screened(reply: Sequence[Any]) -> Screened:
    last, fails, recent, hourly, health = reply
    return _windows_of([last, fails, recent, hourly], hour_latency=False), list(health)


def _windows_of(reply: Sequence[Any], *, hour_latency: bool) -> AgentWindows:
    """The windows of one `read.lua` reply (the hour's percentiles when it was asked for
    them)."""
    last, fails, recent, rolled = reply
    return AgentWindows(
        five_minutes=WindowStats.from_sums(recent),
        one_hour=WindowStats.from_sums(rolled, recent, latency=hour_latency),
        last_execution_ms=None if last is None else int(last),
        consecutive_failures=int(fails),
    )


def _histogram(reply: Any) -> dict[int, int]:
    """The latency bins of one `read.lua` window reply."""
    if isinstance(reply, bytes):
        return sketch.counter_histogram(reply[_SUM_BINS_AT:])
    flat = reply[6]
    return {int(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def variant_member(prompt_version_id: str, variant: str) -> str:
    return f"{prompt_version_id}|{variant}"


class _Sums:
    """What a group of executions adds to every bucket they are all filed under."""

    __slots__ = ("bins", "c", "f", "n", "s", "ti", "to")

    def __init__(self) -> None:
        self.n = self.f = self.s = self.c = self.ti = self.to = 0
        self.bins: dict[int, int] = {}

    def add(self, execution: Execution, slow: bool) -> None:
        self.n += 1
        self.f += execution.failed
        self.s += slow
        self.c += execution.cost_units
        self.ti += execution.input_tokens
        self.to += execution.output_tokens
        if execution.duration_ms is not None:
            index = sketch.bin_of(execution.duration_ms)
            self.bins[index] = self.bins.get(index, 0) + 1

    def fields(self) -> dict[str, int]:
        """Bucket fields and what to add to each (fields that would add 0 left out)."""
        totals = {"n": self.n, "f": self.f, "s": self.s, "c": self.c, "ti": self.ti, "to": self.to}
        return {name: amount for name, amount in totals.items() if amount} | {
            str(index): count for index, count in self.bins.items()
        }


class RedisWindows:
    """The windows of every agent in one Redis; safe to share between tasks and processes."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(SCRIPT)
        self._read = client.register_script(READ_SCRIPT)

    def agent_prefix(self, agent: AgentKey) -> str:
        return f"{self.prefix}:{{{agent.tenant_id}:{agent.agent_id}}}"

    def _scope(self, agent: AgentKey, variant: str | None) -> str:
        base = self.agent_prefix(agent)
        return f"{base}:a" if variant is None else f"{base}:v:{variant}"

    @staticmethod
    def _targets(
        base: str,
        bucket: Callable[[str, str, int, int], int],
        now_ms: int,
        short: int,
        long: int,
        member: str | None,
    ) -> tuple[int, ...] | None:
        """The bucket keys an execution ending in buckets `short` and `long` (of variant
        `member`) adds to: its 10-second bucket, or its minute's once it is older than the
        five minutes (sums.lua rolls 10-second buckets into the hour as they leave); None when
        it is too old to count anywhere."""
        ttl = (long + LONG_BUCKETS) * LONG_BUCKET_MS - now_ms + EXPIRY_MARGIN_MS
        if ttl <= EXPIRY_MARGIN_MS:
            return None
        # a 10-second bucket lives until it is rolled, at the latest until its minute leaves
        # the hour
        kind, i = ("s", short) if short > now_ms // SHORT_BUCKET_MS - SHORT_BUCKETS else ("m", long)
        targets: tuple[int, ...] = (bucket(f"{base}:a", kind, i, ttl),)
        if member is not None:
            targets += (bucket(f"{base}:v:{member}", kind, i, ttl),)
        return targets

    def _prepare(
        self,
        agent: AgentKey,
        executions: Sequence[Execution],
        now_ms: int,
        slow_call_ms: int,
        screen: Screen | None = None,
    ) -> tuple[list[str], list[Any], list[int]] | None:
        """KEYS and ARGV of one script call for one agent's executions, and which of them it
        carries (an execution too old to count anywhere is left out)."""
        base = self.agent_prefix(agent)
        keys = [f"{base}:last", f"{base}:fails", f"{base}:variants"]
        ttls: list[int] = []
        index: dict[str, int] = {}
        # per key: (number of its window sum, 0 for none; its bucket index)
        owners: list[tuple[int, int]] = []
        sums: dict[str, int] = {}  # scope -> number of its 5-minute sum (the hour's is next)
        sum_fields: list[Any] = []

        def key(name: str, ttl: int, owner: tuple[int, int] = (0, 0)) -> int:
            if name not in index:
                keys.append(name)
                ttls.append(max(1, ttl))
                owners.append(owner)
                index[name] = len(keys)  # Lua counts from 1
            return index[name]

        def bucket(scope: str, kind: str, i: int, ttl: int) -> int:
            """A bucket key of `scope`, and the scope's running sums on first use (the
            5-minute one, then the hour's it rolls into)."""
            if scope not in sums:
                sums[scope] = len(sums) * 2 + 1
                for kind_, size, span, hour in (
                    ("s", SHORT_BUCKET_MS, SHORT_BUCKETS, sums[scope] + 1),
                    ("m", LONG_BUCKET_MS, LONG_BUCKETS, 0),
                ):
                    current = now_ms // size
                    sum_ttl = SUM_TTL_MS
                    sum_key = key(f"{scope}:counters:{kind_}", sum_ttl)
                    sum_fields.extend(
                        [sum_key, f"{scope}:{kind_}:", current - span + 1, current, span, sum_ttl]
                    )
                    sum_fields.extend([size, hour])
            number = sums[scope] + (kind == "m")
            return key(f"{scope}:{kind}:{i}", ttl, (number, i))

        # executions filed under the same buckets are summed together, then into each bucket
        groups: dict[tuple[int, ...], _Sums] = {}
        # the buckets of an end (and variant), worked out once per batch: None when too old
        # to count anywhere
        filed: dict[tuple[int, int, str | None], tuple[int, ...] | None] = {}
        seen_keys: dict[tuple[int, int], int] = {}
        ids: list[Any] = []
        carried: list[int] = []
        latest, success = -1, None
        failures: list[Any] = []
        members: set[str] = set()
        for i, execution in enumerate(executions):
            ended = min(execution.ended_ms, now_ms)  # a clock running ahead counts as now
            short, long = ended // SHORT_BUCKET_MS, ended // LONG_BUCKET_MS
            member = (
                variant_member(execution.prompt_version_id, execution.variant)
                if execution.has_variant
                else None
            )
            where = (short, long, member)
            if where in filed:
                targets = filed[where]
            else:
                targets = filed[where] = self._targets(base, bucket, now_ms, short, long, member)
            if targets is None:
                continue  # outside the 1-hour window: it can no longer count anywhere
            if member is not None:
                members.add(member)
            group = groups.get(targets)
            if group is None:
                group = groups[targets] = _Sums()
            duration = execution.duration_ms
            group.add(execution, duration is not None and duration >= slow_call_ms)
            # remembered under its own end, not the clamped one: redelivered once the
            # worker's clock has caught up, it must find itself in the same seen-ids
            own = (execution.ended_ms // SHORT_BUCKET_MS, long)
            seen = seen_keys.get(own)
            if seen is None:
                seen_ttl = max(
                    (long + LONG_BUCKETS) * LONG_BUCKET_MS,
                    (execution.ended_ms // LONG_BUCKET_MS + LONG_BUCKETS) * LONG_BUCKET_MS,
                )
                seen = seen_keys[own] = key(
                    f"{base}:seen:{own[0]}", seen_ttl - now_ms + EXPIRY_MARGIN_MS
                )
            ids += [execution.execution_id.bytes, seen]
            latest = max(latest, ended)
            if execution.failed:
                failures += [ended, execution.execution_id.bytes]
            elif success is None or ended > success:
                success = ended
            carried.append(i)
        if not carried:
            return None
        per_key: dict[int, dict[str, int]] = {}
        for targets, group in groups.items():
            fields = group.fields()
            for k in targets:
                into = per_key.setdefault(k, {})
                for name, amount in fields.items():
                    into[name] = into.get(name, 0) + amount
        # Lua counts keys from 1, and the three state keys come first
        additions = [
            " ".join(f"{name} {amount}" for name, amount in per_key[k].items())
            if k in per_key
            else ""
            for k in range(4, 4 + len(ttls))
        ]
        state_ttl = LONG_BUCKETS * LONG_BUCKET_MS + EXPIRY_MARGIN_MS
        args = [
            state_ttl,
            MAX_CONSECUTIVE_FAILURES,
            "" if screen is None else _SCREENS[screen.latency],
            now_ms,
            len(ttls),
            *ttls,
            2 * len(sums),
            *sum_fields,
            *(part for owner in owners for part in owner),
            *additions,
            latest,
            "" if success is None else success,
            len(failures) // 2,
            *failures,
            len(members),
            *sorted(members),
            *ids,
        ]
        if screen is not None:
            keys.append(screen.health_key)
        return keys, args, carried

    async def apply(
        self,
        executions: Sequence[Execution],
        now_ms: int,
        slow_call_ms: Mapping[AgentKey, int] | None = None,
    ) -> list[bool]:
        """Apply executions (one script call per agent, one pipeline); for each, whether it
        counted now. Not counted: an execution applied before, one still running, one older
        than the 1-hour window."""
        return (await self.apply_and_screen(executions, now_ms, slow_call_ms))[0]

    async def apply_and_screen(
        self,
        executions: Sequence[Execution],
        now_ms: int,
        slow_call_ms: Mapping[AgentKey, int] | None = None,
        screens: Mapping[AgentKey, Screen] | None = None,
    ) -> tuple[list[bool], dict[AgentKey, Screened]]:
        """`apply`, and for each agent of `screens` that had an execution to apply, its
        windows and health read right after, in the same script call (what `read` with the
        screen's latency gives; missing for an agent whose sums run ahead of `now_ms`)."""
        thresholds = slow_call_ms or {}
        wanted = screens or {}
        pending: dict[AgentKey, list[int]] = {}
        for i, execution in enumerate(executions):
            if execution.finished:
                pending.setdefault(execution.agent, []).append(i)
        applied = [False] * len(executions)
        screened: dict[AgentKey, Screened] = {}
        # A batch holding an execution applied before is applied not at all: the script says
        # which were new, and those go again (rare: entries redelivered, or counted by a
        # rebuild). Each round leaves out at least one execution, so this ends.
        while pending:
            calls: list[tuple[AgentKey, list[int]]] = []
            async with self.client.pipeline(transaction=False) as pipe:
                for agent, positions in pending.items():
                    prepared = self._prepare(
                        agent,
                        [executions[i] for i in positions],
                        now_ms,
                        thresholds.get(agent, DEFAULT_SLOW_CALL_MS),
                        wanted.get(agent),
                    )
                    if prepared is None:
                        continue
                    keys, args, carried = prepared
                    await self._script(keys=keys, args=args, client=pipe)
                    calls.append((agent, [positions[c] for c in carried]))
                replies = await pipe.execute() if calls else []
            pending = {}
            for (agent, positions), reply in zip(calls, replies, strict=True):
                if int(reply[0]) == 1:
                    for i in positions:
                        applied[i] = True
                    if len(reply) > 1 and reply[1]:
                        screened[agent] = _screened(reply[1])
                    continue
                new = [i for i, flag in zip(positions, reply[1:], strict=True) if int(flag)]
                if new:
                    pending[agent] = new
        return applied, screened

    async def read(
        self,
        agent: AgentKey,
        now_ms: int,
        *,
        variant: str | None = None,
        latency: Latency = "both",
    ) -> AgentWindows:
        """The agent's windows at `now_ms` (or those of one of its variants), one snapshot,
        summed inside Redis by `read.lua`. `latency` says which windows' percentiles to merge
        (the rest read counts only, a fraction of the work): what an evaluation needs on
        every batch is often only the counts, the 5-minute p95 at most."""
        keys, args = self._read_call(agent, now_ms, variant, latency)
        reply = await self._read(keys=keys, args=args)
        return _windows_of(reply, hour_latency=latency == "both")

    def _read_call(
        self, agent: AgentKey, now_ms: int, variant: str | None, latency: Latency
    ) -> tuple[list[str], list[str]]:
        scope = self._scope(agent, variant)
        base = self.agent_prefix(agent)
        keys = [f"{scope}:counters:s", f"{scope}:counters:m", f"{base}:last", f"{base}:fails"]
        args: list[str] = []
        for kind, size, span in (
            ("s", SHORT_BUCKET_MS, SHORT_BUCKETS),
            ("m", LONG_BUCKET_MS, LONG_BUCKETS),
        ):
            current = now_ms // size
            ttl = SUM_TTL_MS
            args += [f"{scope}:{kind}:", str(current - span + 1), str(current), str(span)]
            args += [str(ttl), str(size)]
        five = "1" if latency in ("both", "five_minutes") else "0"
        hour = "1" if latency == "both" else "0"
        return keys, [*args, five, hour, str(now_ms)]

    async def read_many(
        self, wanted: Sequence[tuple[AgentKey, Latency]], now_ms: int
    ) -> list[AgentWindows]:
        """`read` for many agents in one round trip (each agent still one snapshot)."""
        if not wanted:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for agent, latency in wanted:
                keys, args = self._read_call(agent, now_ms, None, latency)
                await self._read(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        return [
            _windows_of(reply, hour_latency=latency == "both")
            for reply, (_, latency) in zip(replies, wanted, strict=True)
        ]

    async def variants(self, agent: AgentKey) -> list[str]:
        """The agent's variants seen in the last hour, as `variant_member` strings."""
        members = await self.client.smembers(f"{self.agent_prefix(agent)}:variants")
        return sorted(_text(m) for m in members)
