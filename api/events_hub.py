"""The realtime events of every tenant, from one Redis pattern subscription per API process,
fanned out to the WebSocket clients (`api.routers.ws`) through bounded per-client queues.

One `PSUBSCRIBE metaagent:events:*` serves every client of the process, however many: the
hub reads each message once, parses it once, and hands the text as published to the
subscriptions of the channel's tenant, and of those only to the ones whose filter wants it.
A subscription belongs to exactly one tenant, and the tenant is read from the channel name
(and must match the event's own `tenant_id`), so another tenant's event never reaches it.

The hub never waits for a client: a queue that is full means the client reads more slowly
than events arrive, and that client is closed with 4408 (too slow) rather than allowed to back
up the hub or anyone else. Its pending events are dropped; it reconnects and re-reads.

Redis gone (or silent past a few liveness pings): every client is told
`{"type": "error", "code": "events_unavailable", ...}` and stays connected while the hub
retries with backoff; when the subscription is back each is told
`{"type": "events_resumed", ...}`. Pub/sub keeps nothing for absent subscribers, so events of
the gap are lost, which both messages say. Clients are kept rather than closed (1011): closing
would send them all reconnecting at once into a process that still cannot deliver, while a
kept client can show the gap and fall back to polling. HTTP serving never depends on the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from meta_agent.events import CHANNEL_PATTERN, tenant_of

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TOO_SLOW = 4408
EVENT_TYPES = frozenset({"health", "breaker", "alert"})


@dataclass(frozen=True)
class HubLimits:
    """How much the hub holds per client and how it watches Redis."""

    queue_size: int = 512
    # a quiet subscription is pinged this often; three unanswered intervals mean Redis is gone
    liveness_interval_s: float = 5.0
    retry_min_s: float = 0.1
    retry_max_s: float = 5.0
    connect_timeout_s: float = 5.0
    # per connection: the wait for a browser's auth message, how often its key is checked
    # again, how long a close frame may take to get out, the longest message it may send
    auth_timeout_s: float = 5.0
    reauth_interval_s: float = 60.0
    close_timeout_s: float = 5.0
    max_client_message_chars: int = 64 * 1024


def _control(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


UNAVAILABLE = _control(
    "error",
    code="events_unavailable",
    message="realtime events are unavailable (Redis cannot be reached); retrying. Events"
    " published meanwhile are lost: re-read GET /v1/health once they resume.",
)
RESUMED = _control(
    "events_resumed",
    message="realtime events flow again; re-read GET /v1/health for anything missed.",
)


class Subscription:
    """One client's place in the hub: its tenant, its filter and its bounded queue of
    messages (JSON text) to send. Closing it asks the client's connection to close."""

    def __init__(self, tenant_id: str, queue_size: int) -> None:
        self.tenant_id = tenant_id
        self.agents: frozenset[str] | None = None  # None: every agent
        self.types: frozenset[str] | None = None  # None: every type
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.closed = asyncio.Event()
        self.close_code = CLOSE_GOING_AWAY
        self.close_reason = ""

    def wants(self, kind: Any, agent_id: Any) -> bool:
        return (self.types is None or kind in self.types) and (
            self.agents is None or agent_id in self.agents
        )

    def offer(self, message: str) -> bool:
        """Queue a message without waiting; False (and the subscription closed) when full."""
        if self.closed.is_set():
            return False
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.close(CLOSE_TOO_SLOW, "too slow: events arrived faster than they were read")
            return False
        return True

    def close(self, code: int, reason: str) -> None:
        if not self.closed.is_set():
            self.close_code, self.close_reason = code, reason
            self.closed.set()


class EventHub:
    """The process's one pattern subscription and the clients it serves."""

    def __init__(self, redis_url: str, limits: HubLimits | None = None) -> None:
        self.redis_url = redis_url
        self.limits = limits or HubLimits()
        self.available = False
        # the name of the hub's Redis connection, so its subscription can be found in CLIENT LIST
        self.client_name = f"metaagent-api-events-{id(self):x}"
        self.delivered = 0
        self.dropped_clients = 0
        self.malformed = 0
        self._by_tenant: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ clients

    def subscribe(self, tenant_id: str) -> Subscription:
        subscription = Subscription(tenant_id, self.limits.queue_size)
        self._by_tenant.setdefault(tenant_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._by_tenant.get(subscription.tenant_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_tenant[subscription.tenant_id]

    @property
    def clients(self) -> int:
        return sum(len(s) for s in self._by_tenant.values())

    def dispatch(self, channel: str, data: str) -> None:
        """Hand one published message to the subscriptions of its channel's tenant."""
        tenant = tenant_of(channel)
        subscribers = self._by_tenant.get(tenant)
        if not subscribers:
            return
        try:
            event = json.loads(data)
        except ValueError:
            event = None
        if not isinstance(event, dict) or event.get("tenant_id") != tenant:
            self.malformed += 1
            log.warning("dropped a malformed event on %s", channel)
            return
        kind, agent_id = event.get("type"), event.get("agent_id")
        for subscription in list(subscribers):
            if not subscription.wants(kind, agent_id):
                continue
            if subscription.offer(data):
                self.delivered += 1
            else:
                self._drop(subscription)

    def _broadcast(self, message: str) -> None:
        for subscribers in list(self._by_tenant.values()):
            for subscription in list(subscribers):
                if not subscription.offer(message):
                    self._drop(subscription)

    def _drop(self, subscription: Subscription) -> None:
        self.unsubscribe(subscription)
        self.dropped_clients += 1
        log.info("closed a WebSocket client of tenant %s: %s", subscription.tenant_id,
                 subscription.close_reason)  # fmt: skip

    # ------------------------------------------------------------------ Redis

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.available = False
        for subscribers in list(self._by_tenant.values()):
            for subscription in list(subscribers):
                subscription.close(CLOSE_GOING_AWAY, "the server is shutting down")
        self._by_tenant.clear()

    def _set_available(self, available: bool) -> None:
        if available != self.available:
            self.available = available
            self._broadcast(RESUMED if available else UNAVAILABLE)

    async def _run(self) -> None:
        delay = self.limits.retry_min_s
        failures = 0
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as exc:
                # once per outage, not once per retry
                level = logging.WARNING if self.available or failures == 0 else logging.DEBUG
                log.log(level, "realtime events unavailable: Redis: %s; retrying", exc)
            if self.available:  # it had worked: start over from the shortest wait
                delay, failures = self.limits.retry_min_s, 0
            failures += 1
            self._set_available(False)
            await asyncio.sleep(delay * random.uniform(0.5, 1))
            delay = min(self.limits.retry_max_s, delay * 2)

    async def _listen(self) -> None:
        """Subscribe and relay until the connection fails or goes silent (both raise)."""
        client = aioredis.Redis.from_url(
            self.redis_url,
            socket_connect_timeout=self.limits.connect_timeout_s,
            retry=Retry(NoBackoff(), 0),  # reconnecting is ours: clients must hear of a gap
            client_name=self.client_name,
        )
        pubsub = client.pubsub()
        try:
            await pubsub.psubscribe(CHANNEL_PATTERN)
            log.info("realtime events: subscribed to %s", CHANNEL_PATTERN)
            self._set_available(True)
            await self._relay(pubsub)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def _relay(self, pubsub: aioredis.client.PubSub) -> None:
        interval = self.limits.liveness_interval_s
        last_heard = last_ping = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=interval / 5)
            now = time.monotonic()
            if message is not None:
                last_heard = now
                if message["type"] == "pmessage":
                    self.dispatch(_text(message["channel"]), _text(message["data"]))
                    # let the clients' senders run between messages of a burst, so a burst
                    # is judged against their queues as they drain, not all at once
                    await asyncio.sleep(0)
            elif now - last_heard > 3 * interval:
                raise ConnectionError(f"no answer from Redis for {now - last_heard:.0f}s")
            if now - last_ping >= interval and now - last_heard >= interval:
                await pubsub.ping()
                last_ping = now


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
