"""The manifest (`archive_manifest`, migration 0009): what was written where, and what was dropped.

One row per file. Retention reads it to skip work already done and writes it after each step,
so the Postgres side of every step is durable before the next begins.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import psycopg

from meta_agent.archive.files import Digest

Removal = Literal["partition_dropped", "rows_deleted"]


@dataclass(frozen=True)
class ManifestEntry:
    table_name: str
    tenant_id: uuid.UUID
    day: date
    part: int
    schema_version: int
    path: str
    row_count: int
    checksum: int
    file_bytes: int
    written_at: datetime
    verified_at: datetime | None
    dropped_at: datetime | None
    removal: Removal | None

    @property
    def digest(self) -> Digest:
        return Digest(self.row_count, self.checksum)


# the checksum is a sum of 64-bit integers, wider than bigint: numeric, read as text into an int
_COLUMNS = (
    "table_name, tenant_id, day, part, schema_version, path, row_count, checksum::text,"
    " file_bytes, written_at, verified_at, dropped_at, removal"
)


def _entry(cursor: object) -> Callable[[Sequence[Any]], ManifestEntry]:
    def make(values: Sequence[Any]) -> ManifestEntry:
        row = list(values)
        row[7] = int(row[7])
        return ManifestEntry(*row)

    return make


def open_part(
    conn: psycopg.Connection, table: str, tenant_id: uuid.UUID, day: date
) -> ManifestEntry | None:
    """The part of (table, tenant, day) whose rows are still in Postgres, if one was written."""
    with conn.cursor(row_factory=_entry) as cur:
        return cur.execute(
            f"select {_COLUMNS} from archive_manifest"
            " where table_name = %s and tenant_id = %s and day = %s and dropped_at is null",
            (table, tenant_id, day),
        ).fetchone()


def next_part(conn: psycopg.Connection, table: str, tenant_id: uuid.UUID, day: date) -> int:
    """The number for a new part: parts whose rows were dropped are never written again."""
    row = conn.execute(
        "select coalesce(max(part) + 1, 0) from archive_manifest"
        " where table_name = %s and tenant_id = %s and day = %s",
        (table, tenant_id, day),
    ).fetchone()
    return int(row[0]) if row else 0


def record_written(
    conn: psycopg.Connection,
    *,
    table: str,
    tenant_id: uuid.UUID,
    day: date,
    part: int,
    schema_version: int,
    path: str,
    expected: Digest,
    file_bytes: int,
) -> None:
    """A file is on disk, meant to hold `expected`; not yet verified."""
    conn.execute(
        "insert into archive_manifest (table_name, tenant_id, day, part, schema_version, path,"
        " row_count, checksum, file_bytes) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " on conflict (table_name, tenant_id, day, part) do update set"
        " schema_version = excluded.schema_version, path = excluded.path,"
        " row_count = excluded.row_count, checksum = excluded.checksum,"
        " file_bytes = excluded.file_bytes, written_at = now(), verified_at = null"
        " where archive_manifest.dropped_at is null",
        (table, tenant_id, day, part, schema_version, path, expected.rows,
         expected.checksum, file_bytes),
    )  # fmt: skip


def record_verified(
    conn: psycopg.Connection, table: str, tenant_id: uuid.UUID, day: date, part: int
) -> None:
    conn.execute(
        "update archive_manifest set verified_at = now()"
        " where table_name = %s and tenant_id = %s and day = %s and part = %s",
        (table, tenant_id, day, part),
    )


def record_dropped(
    conn: psycopg.Connection,
    table: str,
    day: date,
    entries: Collection[ManifestEntry],
    removal: Removal,
) -> None:
    """The rows of these verified parts are gone from Postgres (in the caller's transaction)."""
    for entry in entries:
        conn.execute(
            "update archive_manifest set dropped_at = now(), removal = %s"
            " where table_name = %s and tenant_id = %s and day = %s and part = %s"
            " and verified_at is not null and dropped_at is null",
            (removal, table, entry.tenant_id, day, entry.part),
        )


def removed_days(conn: psycopg.Connection, first: date, last: date) -> list[date]:
    """Days in [first, last] some of whose raw rows now live only in the archive.

    Re-aggregating such a day would rebuild its marts from what is left in Postgres and so
    replace good numbers with smaller ones; the warehouse refuses those days.
    """
    rows = conn.execute(
        "select distinct day from archive_manifest"
        " where dropped_at is not null and day between %s and %s order by day",
        (first, last),
    ).fetchall()
    return [row[0] for row in rows]
