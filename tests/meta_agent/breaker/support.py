"""Helpers of the breaker tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis

from meta_agent.breaker import BreakerKey, RedisBreakerStore


@asynccontextmanager
async def redis_store(url: str, **client_options: Any) -> AsyncIterator[RedisBreakerStore]:
    """A store on a client of its own, made inside the running event loop (a client belongs
    to the loop it first ran in)."""
    client = aioredis.Redis.from_url(url, **client_options)
    try:
        yield RedisBreakerStore(client)
    finally:
        await client.aclose()


def new_key() -> BreakerKey:
    """A breaker no other test touches."""
    return BreakerKey(uuid.uuid4(), uuid.uuid4())
