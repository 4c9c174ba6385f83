"""The alert loop of a realtime worker.

- `on_transitions`: the worker hands it each batch's health and breaker transitions; they
  become signals for the engine at once (a critical agent is an alert within the batch).
- `run`: in the background, sends queued deliveries as soon as the engine queues one (and
  every `poll_s` anyway, for retries and for what other workers queued), resolves alerts whose
  condition stayed clear, and runs the periodic detectors (SLA burn rates, spikes against
  each agent's baseline, cost budgets), each at its own interval under a Redis lock, so one
  worker of many runs it.

Alert state changes are also published on the tenant's event channel
(`{"type": "alert", ...}`), so WebSocket clients see alerts open and close.

A failing alert write is logged and never stops the stream: the transition itself is already
recorded in Postgres.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from meta_agent.alerting.dispatch import Dispatcher, DispatchReport, utc_now
from meta_agent.alerting.engine import AlertEngine, Outcome
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.db import Database
from meta_agent.events import publish
from realtime.alerts.transitions import Signal, breaker_signals, health_signals
from realtime.bounded import gather_bounded
from realtime.breakers import Changed
from realtime.health import Recorded

log = logging.getLogger(__name__)

LOCK_PREFIX = "metaagent:alerts:detector"


@dataclass(frozen=True)
class Detector:
    """A periodic detector: given now, the signals it sees; run every `every_s` by one
    worker (whoever takes the lock `metaagent:alerts:detector:<name>` first)."""

    name: str
    every_s: float
    detect: Callable[[dt.datetime], Awaitable[Sequence[Signal]]]


class AlertLoop:
    def __init__(
        self,
        db: Database,
        client: aioredis.Redis,
        *,
        engine: AlertEngine,
        dispatcher: Dispatcher,
        poll_s: float = 1.0,
        resolve_every_s: float = 5.0,
        detectors: Sequence[Detector] = (),
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.db = db
        self.client = client
        self.engine = engine
        self.dispatcher = dispatcher
        self.poll_s = poll_s
        self.resolve_every_s = resolve_every_s
        self.detectors = detectors
        self.clock = clock
        self.wake = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self.sent = DispatchReport()
        self.outcomes: deque[Outcome] = deque(maxlen=1_000)  # the latest, for tests and logs
        previous = engine.on_queued

        def queued(count: int) -> None:  # deliveries queued: send them now, not at the poll
            self.wake.set()
            if previous is not None:
                previous(count)

        engine.on_queued = queued

    async def on_transitions(
        self, health: Sequence[Recorded] = (), breakers: Sequence[Changed] = ()
    ) -> list[Outcome]:
        """Apply the signals of a batch's transitions; the alerts they fired."""
        signals = [s for r in health for s in health_signals(r)]
        signals += [s for key, ts in breakers for s in breaker_signals(key, ts)]
        return await self.apply(signals)

    async def apply(self, signals: Sequence[Signal]) -> list[Outcome]:
        """Apply signals: one alert's in the order given (a breaker that opened, closed and
        opened again must end open), different alerts' a few at once (one tenant transaction
        each; the pool is shared with the worker)."""
        if not signals:
            return []
        groups: dict[tuple[Any, str], list[Signal]] = {}
        for signal in signals:
            groups.setdefault((signal.tenant_id, signal.fingerprint), []).append(signal)

        async def in_order(group: list[Signal]) -> list[Outcome]:
            done = [await self._apply_one(signal) for signal in group]
            return [o for o in done if o is not None]

        results = await gather_bounded(4, list(groups.values()), in_order)
        outcomes = [o for group in results for o in group]
        self.outcomes.extend(outcomes)
        return outcomes

    async def _apply_one(self, signal: Signal) -> Outcome | None:
        try:
            if isinstance(signal, Clear):
                await self.engine.clear(signal)
                return None
            outcome = await self.engine.fire(signal)
        except Exception:
            log.exception("alert signal %s of agent %s not applied", signal, signal.agent_id)
            return None
        if outcome.state_change is not None:
            await self._publish(signal, outcome)
        return outcome

    async def _publish(self, signal: Fire, outcome: Outcome) -> None:
        event: dict[str, Any] = {
            "type": "alert",
            "tenant_id": str(signal.tenant_id),
            "agent_id": None if signal.agent_id is None else str(signal.agent_id),
            "alert_id": str(outcome.alert_id),
            "alert_type": signal.alert_type,
            "severity": outcome.severity,
            "state_change": outcome.state_change,
            "title": outcome.title,  # with the agent's name in it
            "at": signal.at.isoformat(),
        }
        try:
            await publish(self.client, signal.tenant_id, event)
        except Exception:
            log.exception("alert event of agent %s not published", signal.agent_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch, auto-resolve and detect until `stop` is set."""
        loop = asyncio.get_running_loop()
        self._stop = stop
        resolved_at = -float("inf")
        detected_at = {d.name: -float("inf") for d in self.detectors}
        while not stop.is_set():
            await _first_of(self.wake, stop, timeout_s=self.poll_s)
            if stop.is_set():
                break
            self.wake.clear()
            await self._guarded("dispatch", self._dispatch)
            if loop.time() - resolved_at >= self.resolve_every_s:
                resolved_at = loop.time()
                await self._guarded("auto-resolve", self._resolve)
            for detector in self.detectors:
                if loop.time() - detected_at[detector.name] >= detector.every_s:
                    detected_at[detector.name] = loop.time()
                    await self._guarded(detector.name, functools.partial(self._detect, detector))

    async def _guarded(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except Exception:  # Postgres or Redis away: the next round tries again
            log.exception("alert loop: %s failed", what)

    async def _dispatch(self) -> None:
        self.sent += await self.dispatcher.dispatch_due(stop=self._stop)

    async def _resolve(self) -> None:
        await self.engine.resolve_cleared(self.clock())

    async def _detect(self, detector: Detector) -> None:
        await self.detect(detector)

    async def detect(self, detector: Detector) -> list[Outcome] | None:
        """Run one detector if no other worker did within its interval (None: not our
        turn); the alerts its signals fired."""
        lock_ms = max(1, int(detector.every_s * 1000))
        key = f"{LOCK_PREFIX}:{detector.name}"
        if not await self.client.set(key, "1", nx=True, px=lock_ms):
            return None
        return await self.apply(await detector.detect(self.clock()))


async def _first_of(a: asyncio.Event, b: asyncio.Event, *, timeout_s: float) -> None:
    """Wait until either event is set, or `timeout_s`."""
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
