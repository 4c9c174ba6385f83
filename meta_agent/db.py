"""Async database access: one pool per role, tenant-scoped transactions, retry, COPY.

Request-serving code (API, realtime) connects as `meta_agent_app`, which RLS binds; it reaches
tenant data only through `Database.tenant_transaction`, which sets the tenant for that
transaction alone. The owner role is for migrations and the batch pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from meta_agent.connections import describe
from meta_agent.errors import ServerUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors that mean "the server is briefly away", worth retrying; anything else is ours to fix.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.errors.AdminShutdown,
    psycopg.errors.CannotConnectNow,
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
)


async def with_retry(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    base_delay_s: float = 0.1,
    max_delay_s: float = 2.0,
) -> T:
    """Run `operation`, retrying transient database errors with exponential backoff and jitter.

    `operation` must be safe to run again: a whole transaction, not a statement inside one.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except TRANSIENT_ERRORS as exc:
            if attempt == attempts:
                raise
            delay = min(max_delay_s, base_delay_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1)
            log.warning(
                "database unavailable (%s); retry %d in %.2fs", type(exc).__name__, attempt, delay
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


class Database:
    """A connection pool for one role and the transactions it hands out."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 5.0):
        self.url = url
        self._timeout_s = timeout_s
        self.pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            open=False,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout_s))},
            check=self._check_if_idle,
            reset=self._note_returned,
        )
        self._returned_at: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    # A connection whose server went away is replaced instead of handed out. Checking costs a
    # round trip, so only connections idle for a while are checked: one used a moment ago was
    # alive a moment ago, and under load that spares every request a round trip.
    _CHECK_AFTER_IDLE_S = 1.0

    async def _check_if_idle(self, conn: AsyncConnection[Any]) -> None:
        if time.monotonic() - self._returned_at.get(conn, 0.0) > self._CHECK_AFTER_IDLE_S:
            await AsyncConnectionPool.check_connection(conn)

    async def _note_returned(self, conn: AsyncConnection[Any]) -> None:
        self._returned_at[conn] = time.monotonic()

    async def open(self) -> None:
        try:
            await self.pool.open(wait=True, timeout=self._timeout_s)
        except PoolTimeout:
            raise ServerUnavailableError(
                f"database at {describe(self.url)} does not answer"
            ) from None

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[dict[str, Any]]]:
        """A transaction with no tenant set: under RLS it sees no tenant rows."""
        async with self.pool.connection() as conn, conn.transaction():
            conn.row_factory = dict_row
            yield conn

    @asynccontextmanager
    async def transaction_opened_by(
        self, statement: str, params: Sequence[Any]
    ) -> AsyncIterator[tuple[AsyncConnection[dict[str, Any]], dict[str, Any] | None]]:
        """A transaction whose first statement travels with its BEGIN, and that statement's
        first row: one round trip fewer than `transaction()`, for work done on every request.

        Commits when the block ends normally, rolls back when it raises.
        """
        async with self.pool.connection() as conn:
            conn.row_factory = dict_row
            async with conn.pipeline():
                await conn.execute("begin")
                cursor = await conn.execute(statement, params)
            row: dict[str, Any] | None = await cursor.fetchone()
            try:
                yield conn, row
            except BaseException:
                if not conn.broken:  # else the pool discards it, and the server rolled back
                    await conn.rollback()
                raise
            await conn.commit()  # a bare COMMIT: lighter than a statement through a cursor

    @asynccontextmanager
    async def tenant_transaction(
        self, tenant_id: uuid.UUID
    ) -> AsyncIterator[AsyncConnection[dict[str, Any]]]:
        """A transaction in which RLS shows exactly `tenant_id`'s rows.

        `set_config(..., true)` is local to the transaction, so a pooled connection never
        carries one request's tenant into the next.
        """
        async with self.transaction() as conn:
            await conn.execute("select set_config('app.tenant_id', %s, true)", (str(tenant_id),))
            yield conn


async def copy_rows(
    conn: AsyncConnection[Any],
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """Bulk-load `rows` into `table` with binary COPY; return how many were written."""
    schema, _, name = table.rpartition(".")
    target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    statement = sql.SQL("copy {} ({}) from stdin (format binary)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    # binary COPY needs each column's exact type; the catalog knows them
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(
            "select a.attname, a.atttypid from pg_attribute a"
            " where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped",
            (table,),
        )
        types: dict[str, int] = dict(await cursor.fetchall())
    count = 0
    async with conn.cursor().copy(statement) as copy:
        copy.set_types([types[column] for column in columns])
        for row in rows:
            await copy.write_row(row)
            count += 1
    return count
