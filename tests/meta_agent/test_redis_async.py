"""The long-running processes' asyncio Redis client packs commands with hiredis: the bytes on
the wire are redis-py's own, and it works against a real Redis as redis-py's client does."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import DataError
from redis.utils import HIREDIS_AVAILABLE

from meta_agent.redis_async import async_redis, hiredis_packing

pytestmark = pytest.mark.skipif(not HIREDIS_AVAILABLE, reason="hiredis is not installed")

COMMANDS = [
    ("SET", "key", "välue"),
    ("SET", b"key", b"\x00\xff\r\n"),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", 0, -7, 12345678901234567890, 0.1, 1e20, 1.5),
    ("CONFIG GET", "maxmemory"),  # a command name of two words is two arguments
    (b"CONFIG GET", "maxmemory"),
    ("SET", "key", bytearray(b"array")),
    ("SET", "key", memoryview(b"view")),
    ("XACK", "stream", "group", *(f"{i}-0" for i in range(5_000))),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c[0]!r}-{type(c[-1]).__name__}")
def test_the_packed_bytes_are_redis_pys_own(command):
    plain = Connection()
    packed = hiredis_packing(Connection)()
    assert type(packed).__name__ == "HiredisPackedConnection"
    assert b"".join(packed.pack_command(*command)) == b"".join(
        bytes(part) for part in plain.pack_command(*command)
    )


def test_an_argument_redis_cannot_take_is_the_same_data_error():
    for connection in (Connection(), hiredis_packing(Connection)()):
        with pytest.raises(DataError):
            connection.pack_command("SET", "key", None)


def test_a_client_packing_with_hiredis_talks_to_a_real_redis(redis_url):
    async def go() -> list[object]:
        client = async_redis(redis_url)
        assert issubclass(client.connection_pool.connection_class, UnixDomainSocketConnection)
        try:
            async with client.pipeline(transaction=False) as pipe:
                pipe.set("redis-async:text", "välue")
                pipe.get("redis-async:text")
                pipe.eval("return #ARGV", 0, *range(3_000))
                pipe.delete("redis-async:text")
                return await pipe.execute()
        finally:
            await client.aclose()

    assert asyncio.run(go()) == [True, "välue".encode(), 3_000, 1]
