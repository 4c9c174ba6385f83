"""The tenant event channel: realtime publishes each health and breaker transition on Redis
pub/sub, and the API's WebSocket relays them to the tenant's clients.

Channel `metaagent:events:<tenant_id>`, one JSON object per message, with at least
  {"type": "health" | "breaker", "tenant_id", "agent_id", "from_state", "to_state", "version",
   "at" (ISO 8601, UTC), "at_ms", "reason", "metrics": {...}}
Breaker messages add "cause" and "actor". `version` rises by one per transition of one agent
(health and breaker count separately): a client holding a higher version may drop a lower one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis

from meta_agent.breaker.state import Transition, to_datetime
from meta_agent.breaker.store import BreakerKey

CHANNEL_PREFIX = "metaagent:events"
CHANNEL_PATTERN = f"{CHANNEL_PREFIX}:*"


def channel(tenant_id: uuid.UUID | str) -> str:
    """The pub/sub channel of one tenant's realtime events."""
    return f"{CHANNEL_PREFIX}:{tenant_id}"


def tenant_of(channel_name: str) -> str:
    """The tenant id (text) a channel belongs to; '' for a channel that is not ours."""
    prefix, _, tenant = channel_name.rpartition(":")
    return tenant if prefix == CHANNEL_PREFIX else ""


def breaker_event(key: BreakerKey, transition: Transition) -> dict[str, Any]:
    return {
        "type": "breaker",
        "tenant_id": str(key.tenant_id),
        "agent_id": str(key.agent_id),
        "from_state": transition.from_state.value,
        "to_state": transition.to_state.value,
        "cause": transition.cause.value,
        "version": transition.version,
        "at": to_datetime(transition.at_ms).isoformat(),
        "at_ms": transition.at_ms,
        "actor": transition.actor,
        "reason": transition.reason,
        "metrics": transition.metrics(),
    }


async def publish(client: aioredis.Redis, tenant_id: uuid.UUID, event: dict[str, Any]) -> int:
    """Publish one event on its tenant's channel; how many subscribers received it."""
    message = json.dumps(event, separators=(",", ":"))
    return int(await client.publish(channel(tenant_id), message))


async def publish_breaker(
    client: aioredis.Redis, key: BreakerKey, transitions: tuple[Transition, ...]
) -> None:
    """Publish a breaker's transitions, in order, in one round trip."""
    await publish_breakers(client, [(key, transitions)])


async def publish_breakers(
    client: aioredis.Redis, changed: Iterable[tuple[BreakerKey, Iterable[Transition]]]
) -> None:
    """Publish the transitions of many breakers (each breaker's in order) in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        for key, transitions in changed:
            for t in transitions:
                message = json.dumps(breaker_event(key, t), separators=(",", ":"))
                pipe.publish(channel(key.tenant_id), message)
        if len(pipe):
            await pipe.execute()
