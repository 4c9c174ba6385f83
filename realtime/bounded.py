"""Concurrency with a bound: each task of the worker holds a connection of a bounded pool
(Redis, Postgres), so an unbounded gather over a fleet's agents would exhaust it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def gather_bounded(
    limit: int, items: Iterable[T], work: Callable[[T], Awaitable[R]]
) -> list[R]:
    """`work(item)` for every item, at most `limit` at once; results in the items' order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with semaphore:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))
