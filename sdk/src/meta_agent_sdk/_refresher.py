"""The circuit refresher: a daemon thread that keeps the cached breaker state fresh and fetches
probe permits ahead of time, so that enforcement never waits for the network on the caller's path.

Each tick (every `flush_interval_s`, at least once a second), for the agents this logger ran in
the last `RECENT_S` seconds:
- `POST /v1/circuits/{agent}/permits` for each agent refused since its last permit, holding
  none, whose breaker may admit a probe (half_open, or open past its retry time); at most once
  per second per agent. An admitted permit is held for the agent's next execution.
- `GET /v1/circuits?agent=...` when there is reason to: an open, forced_open or half_open
  state is cached, or the cached state is older than `STALE_S` while the agent runs; at most
  once per second.
Both answers update the cache. Failures keep the last known state: a 429 waits its
Retry-After (as delivery does), anything else backs off from 1 s, doubling up to
`backoff_max_s`. Nothing here raises to the agent. It uses a connection of its own, with the
same key and headers as ingest, and starts on the first guarded execution.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from meta_agent_sdk._circuits import UNKNOWN
from meta_agent_sdk._delivery import MAX_RETRY_AFTER_S
from meta_agent_sdk._guard import GUARDED, Permit
from meta_agent_sdk._transport import Reply, Transport

if TYPE_CHECKING:
    from meta_agent_sdk._config import Settings
    from meta_agent_sdk._guard import CircuitGuard

log = logging.getLogger("meta_agent_sdk")

MIN_INTERVAL_S = 1.0  # between two GETs, and between two permit requests for one agent
STALE_S = 5.0
RECENT_S = 60.0
MAX_TOKEN_CHARS = 4096
_NEVER = float("-inf")


def parse_permit(body: Mapping[str, object]) -> Permit | None:
    """The permit of an admitted answer, None if not admitted or malformed."""
    raw = body.get("permit")
    if body.get("admitted") is not True or not isinstance(raw, Mapping):
        return None
    token, kind, deadline = raw.get("token"), raw.get("kind"), raw.get("deadline_ms")
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
        return None
    if deadline is not None and (
        isinstance(deadline, bool) or not isinstance(deadline, (int, float))
    ):
        return None
    return Permit(
        token,
        kind if isinstance(kind, str) else "probe",
        None if deadline is None else int(deadline),
    )


class Refresher:
    """The refresher thread of one logger in one process (a forked child starts its own)."""

    def __init__(self, guard: CircuitGuard, settings: Settings) -> None:
        self._guard = guard
        self._cache = guard.cache
        self._transport = Transport(settings.base_url, settings.api_key, settings.request_timeout_s)
        self._tick = min(MIN_INTERVAL_S, settings.flush_interval_s)
        self._backoff_max = max(MIN_INTERVAL_S, settings.backoff_max_s)
        self._started_at = self._cache.clock()
        self._next_get = _NEVER
        self._next_permit: dict[str, float] = {}
        self._not_before = _NEVER
        self._failures = 0
        self._warned: set[int] = set()
        self.requests = 0
        self.last_error: str | None = None
        self.stop_requested = False
        self.thread = threading.Thread(target=self._run, name="metaagent-circuits", daemon=True)

    def _run(self) -> None:
        wake = self._guard.wake
        while not self.stop_requested:
            wake.clear()  # before the step: a refusal during it wakes the next one at once
            try:
                self.step()
            except Exception:
                log.exception("metaagent: circuit refresher error (it keeps going)")
            wake.wait(self._tick)
        self._transport.close()

    def step(self) -> None:
        """One round: discard expired permits, fetch permits where wanted, refresh states."""
        g = self._guard
        g.discard_expired()
        now = self._cache.clock()
        if now < self._not_before:
            return
        recent = [a for a, t in g.last_used.copy().items() if now - t <= RECENT_S]
        done: set[str] = set()
        for agent in recent:
            if g.wants_permit(agent, now) and now >= self._next_permit.get(agent, _NEVER):
                self._next_permit[agent] = now + MIN_INTERVAL_S
                if not self._fetch_permit(agent):
                    return
                done.add(agent)
        rest = [a for a in recent if a not in done]
        if rest and now >= self._next_get and any(self._stale(a, now) for a in rest):
            self._next_get = now + MIN_INTERVAL_S
            self._refresh(rest)

    def _stale(self, agent: str, now: float) -> bool:
        entry = self._cache.entry(agent)
        if entry is None:
            return now - self._started_at >= STALE_S
        if entry.circuit.state in GUARDED:
            return True
        used = self._guard.last_used.get(agent, _NEVER)
        return now - entry.received_at >= STALE_S and used > entry.received_at

    def _refresh(self, agents: list[str]) -> None:
        reply = self._send("GET", "/v1/circuits?" + urlencode([("agent", a) for a in agents]))
        body = reply.body
        if not reply.ok or body is None:
            return
        circuits = body.get("circuits")
        if not isinstance(circuits, Mapping):
            return
        # An agent the server left out has no breaker there: remember that it asked, so it
        # is not asked again every second.
        missing = {
            a: {"state": UNKNOWN, "retry_after_s": None} for a in agents if a not in circuits
        }
        self._cache.update({**body, "circuits": {**missing, **circuits}})

    def _fetch_permit(self, agent: str) -> bool:
        reply = self._send("POST", f"/v1/circuits/{quote(agent, safe='')}/permits", b"{}")
        body = reply.body
        if not reply.ok:
            return False
        if body is not None:
            self._cache.update_one(agent, body.get("circuit"))
            permit = parse_permit(body)
            if permit is not None:
                self._guard.hold(agent, permit)
        return True

    def _send(self, method: str, path: str, body: bytes | None = None) -> Reply:
        self.requests += 1
        reply = self._transport.request(method, path, body)
        if reply.ok:
            self._failures = 0
        else:
            self._failed(reply)
        return reply

    def _failed(self, reply: Reply) -> None:
        self.last_error = reply.error
        if reply.status == 429 and reply.retry_after is not None:
            delay = min(reply.retry_after, MAX_RETRY_AFTER_S)
        else:
            self._failures += 1
            exponent = min(self._failures - 1, 30)
            delay = min(self._backoff_max, MIN_INTERVAL_S * 2**exponent)
        if reply.status in (404, 405):  # a server without /v1/circuits: ingest replies only
            delay = self._backoff_max
        self._not_before = self._cache.clock() + delay
        if reply.status not in self._warned:
            self._warned.add(reply.status)
            log.warning(
                "metaagent: circuit state unavailable (%s); enforcing the last known state",
                _detail(reply),
            )


def _detail(reply: Reply) -> str:
    if reply.body is None:
        return reply.error or f"HTTP {reply.status}"
    return f"{reply.error}: {json.dumps(reply.body)[:200]}"
