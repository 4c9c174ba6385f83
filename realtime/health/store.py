"""Each agent's current health in Redis, changed only by compare-and-set on a version, so when
several workers evaluate one agent at once exactly one of them records each transition.

Key `<prefix>:{<tenant>:<agent>}`, a hash: st (state), since (ms), ver. It expires a week after
its last change; a missing key is seeded from `agent_health_realtime` before it is used, so
versions keep rising across a Redis loss and Postgres never sees a version twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from realtime.health.evaluate import Health, Status
from realtime.windows import AgentKey

DEFAULT_PREFIX = "metaagent:health"
TTL_MS = 7 * 24 * 3_600_000

_COMMIT = """
local version = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[2], 'since', ARGV[3], 'ver', version + 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return version + 1
"""

_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'since', ARGV[2], 'ver', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


# the hash's fields, in the order `decode` takes their values
FIELDS = ("st", "since", "ver")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode(values: Sequence[Any]) -> tuple[Status, int] | None:
    """The status and version of the hash's `FIELDS` values (None when it has none)."""
    state, since, version = values
    if state is None:
        return None
    return Status(Health(_text(state)), int(since)), int(version)


class RedisHealthStore:
    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._commit = client.register_script(_COMMIT)
        self._seed = client.register_script(_SEED)

    def key(self, agent: AgentKey) -> str:
        return f"{self.prefix}:{{{agent.tenant_id}:{agent.agent_id}}}"

    async def load(self, agent: AgentKey) -> tuple[Status, int] | None:
        """The current status and its version; None when Redis has none (seed it first)."""
        return decode(await self.client.hmget(self.key(agent), FIELDS))

    async def load_many(self, agents: Sequence[AgentKey]) -> list[tuple[Status, int] | None]:
        """`load` for many agents in one round trip."""
        if not agents:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for agent in agents:
                pipe.hmget(self.key(agent), FIELDS)
            replies = await pipe.execute()
        return [decode(values) for values in replies]

    async def seed(self, agent: AgentKey, status: Status, version: int) -> bool:
        """Install a status from Postgres unless Redis already holds one."""
        args = [status.state.value, status.since_ms, version, TTL_MS]
        return int(await self._seed(keys=[self.key(agent)], args=args)) == 1

    async def commit(
        self, agent: AgentKey, expected_version: int, state: Health, since_ms: int
    ) -> int | None:
        """Move to `state` if the version is still `expected_version`: the new version, or
        None when another worker changed it first."""
        args = [expected_version, state.value, since_ms, TTL_MS]
        version = int(await self._commit(keys=[self.key(agent)], args=args))
        return version or None
