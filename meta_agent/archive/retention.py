"""Retention: archive each tenant's expired days of raw logs to Parquet, verify, then drop them.

A day partition of raw.executions or raw.actions holds every tenant's rows of that UTC day, and
tenants keep their logs for different numbers of days (`tenants.retention_days`, 30 unless set;
rows of a tenant that no longer exists keep the default). A day D of a tenant has expired on
`today` when D < today - retention_days: the whole day is older than the retention window, the
same window ingest accepts events in. Each table is archived by its own partition day, so an
execution that spans midnight has its actions archived with the next day.

For each (table, day) partition older than the shortest retention:
1. every tenant with expired rows in it is archived: its rows are exported in one snapshot,
   written as one Parquet file (files.py), read back, and compared with Postgres (row count
   and full-row checksum, schema.py); the manifest records the file, then its verification;
2. under a lock that holds off writers to the partition (readers go on), the verified
   tenants' rows are checked to be the very row versions the file was checked against
   (`_row_versions`: cheap, it reads only system columns), then removed:
   - when every tenant with rows in the partition is archived and verified, the partition is
     dropped: a cheap catalog change that leaves no dead rows behind;
   - otherwise exactly the verified tenants' rows are deleted, and the partition stays for the
     tenants whose retention is longer. We delete rather than wait because a retention period
     is a promise to the tenant whose data it is (often a contractual or privacy one); another
     tenant's longer retention must not extend it. The cost is dead rows for autovacuum,
     bounded by the shorter-retention tenants' share of one day.
   An empty partition past the shortest retention is dropped; ingest recreates a partition if
   a longer-retention tenant later sends an event for that day.

Nothing is removed that was not verified on disk, and each step commits before the next, so a
crash anywhere leaves either rows still in Postgres (archived again, or the verified file
reused, on the next run) or rows gone with a verified file and a manifest row saying so.
Rows written for a tenant's day after its file was verified make the recheck fail: that day
is kept and archived again (same part) next run; ingest refuses events that old, so only a
bulk load as the owner can do it. Rows that arrive after a part was dropped go to
the next part; a dropped part's file is never rewritten. Re-running with nothing expired does
nothing. One run at a time (an advisory lock). The function is synchronous: Dagster's daily
asset calls it as is.

Cost: Postgres renders each expired row twice (the digest, the CSV export); on a 2-core
machine a simulated day of 115k executions and 460k actions takes about 30 s in all, about
20k rows a second. Days between the shortest and the longest retention are looked at (a
`select distinct tenant_id`) on every run.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from meta_agent.archive import manifest
from meta_agent.archive.files import (
    ArchiveError,
    Digest,
    read_digest,
    relative_path,
    write_from_csv,
)
from meta_agent.archive.manifest import ManifestEntry
from meta_agent.archive.report import ArchivedFile, DayOutcome, Outcome, RetentionReport
from meta_agent.archive.schema import (
    SCHEMA_VERSION,
    TABLES,
    SchemaMismatchError,
    check_columns,
    export_sql,
    pg_digest_sql,
)

DEFAULT_RETENTION_DAYS = 30
_RUN_LOCK = 0x61726368  # "arch": one retention run per database at a time
# a partition busy for longer than this is left for the next run, not waited on
_LOCK_TIMEOUT = "10s"


def run_retention(database_url: str, archive_root: Path, *, today: date) -> RetentionReport:
    """Archive, verify and drop every tenant's expired raw days; see the module docstring.

    `database_url` is the owner role's (it bypasses RLS). Failures of one tenant's day are
    reported in `RetentionReport.errors` and leave its rows in place; the other days go on.
    """
    root = archive_root.expanduser().absolute()
    with psycopg.connect(database_url, autocommit=True) as conn:
        locked = conn.execute("select pg_try_advisory_lock(%s)", (_RUN_LOCK,)).fetchone()
        if not (locked and locked[0]):
            raise ArchiveError("another retention run holds the lock; try again when it ends")
        try:
            _check_database(conn)
            retention: dict[uuid.UUID, int] = dict(
                conn.execute("select tenant_id, retention_days from tenants").fetchall()
            )
            shortest = min([*retention.values(), DEFAULT_RETENTION_DAYS])
            horizon = today - timedelta(days=shortest)
            outcomes = []
            for table in TABLES:
                for day in _partition_days(conn, table):
                    if day < horizon:
                        outcome = _retire_day(conn, root, table, day, retention, today)
                        if outcome is not None:
                            outcomes.append(outcome)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_RUN_LOCK,))
    return RetentionReport(today, root, tuple(outcomes))


def _check_database(conn: psycopg.Connection) -> None:
    encoding = conn.execute("show server_encoding").fetchone()
    if not encoding or encoding[0] != "UTF8":
        # checksums hash text as UTF-8 on both sides
        raise ArchiveError(f"the database encoding is {encoding}, not UTF8")
    for table in TABLES:
        catalog = conn.execute(
            "select attname, format_type(atttypid, atttypmod), not attnotnull from pg_attribute"
            " where attrelid = %s::regclass and attnum > 0 and not attisdropped",
            (f"raw.{table}",),
        ).fetchall()
        try:
            check_columns(table, catalog)
        except SchemaMismatchError as exc:
            raise ArchiveError(str(exc)) from None


def _partition_days(conn: psycopg.Connection, table: str) -> list[date]:
    """The days of raw.<table>'s partitions (named <table>_YYYYMMDD by ensure_daily_partitions)."""
    pattern = re.compile(rf"^{table}_(\d{{8}})$")
    names = conn.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid"
        " where i.inhparent = %s::regclass",
        (f"raw.{table}",),
    ).fetchall()
    matches = [pattern.match(name) for (name,) in names]
    return sorted(datetime.strptime(m.group(1), "%Y%m%d").date() for m in matches if m)


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def _partition(table: str, day: date) -> sql.Identifier:
    return sql.Identifier("raw", f"{table}_{day:%Y%m%d}")


def _digests(
    conn: psycopg.Connection, table: str, day: date, tenants: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Digest]:
    rows = conn.execute(pg_digest_sql(table), (*_bounds(day), list(tenants))).fetchall()
    return {tenant: Digest(count, int(checksum)) for tenant, count, checksum in rows}


def _row_versions(
    conn: psycopg.Connection, table: str, day: date, tenants: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """Per tenant, a fingerprint of the row versions in the partition: cheap, no column read.

    An insert, update or delete changes the set of (ctid, xmin) pairs, so an equal fingerprint
    means the very rows a digest was taken of. Something that moves rows without changing
    them (VACUUM FULL) changes it too, which only costs a second archiving.
    """
    rows = conn.execute(
        sql.SQL(
            "select tenant_id, count(*), sum(hashtextextended(ctid::text || xmin::text, 0))"
            " from {} where tenant_id = any(%s) group by tenant_id"
        ).format(_partition(table, day)),
        (list(tenants),),
    ).fetchall()
    return {tenant: (count, int(fingerprint)) for tenant, count, fingerprint in rows}


def _retire_day(
    conn: psycopg.Connection,
    root: Path,
    table: str,
    day: date,
    retention: dict[uuid.UUID, int],
    today: date,
) -> DayOutcome | None:
    present = [
        tenant
        for (tenant,) in conn.execute(
            sql.SQL("select distinct tenant_id from {}").format(_partition(table, day))
        )
    ]
    expired = sorted(
        t for t in present if day < today - timedelta(days=retention.get(t, DEFAULT_RETENTION_DAYS))
    )
    if present and not expired:
        return None
    archived: list[_Archived] = []
    errors: list[str] = []
    for tenant in expired:
        try:
            archived.append(_archive(conn, root, table, tenant, day))
        except ArchiveError as exc:
            errors.append(f"{table} {day} tenant {tenant}: {exc}")
    outcome, removed, kept, removal_errors = _remove(conn, table, day, archived, len(present))
    files = tuple(
        ArchivedFile(a.entry.tenant_id, a.entry.path, a.entry.row_count, a.written, a in removed)
        for a in archived
    )
    return DayOutcome(table, day, files, outcome, kept, (*errors, *removal_errors))


@dataclass(frozen=True)
class _Archived:
    entry: ManifestEntry  # verified
    written: bool  # False: an earlier run's file, verified again
    versions: tuple[int, int]  # `_row_versions` in the snapshot the file was checked against


def _archive(
    conn: psycopg.Connection, root: Path, table: str, tenant: uuid.UUID, day: date
) -> _Archived:
    """A verified file of the tenant's rows of that day, written now or by an earlier run."""
    existing = manifest.open_part(conn, table, tenant, day)
    try:
        root.mkdir(parents=True, exist_ok=True)
        # the export is larger than the file: it goes where there is room for the archive
        scratch_dir = tempfile.TemporaryDirectory(prefix=".export-", dir=root)
    except OSError as exc:
        raise ArchiveError(f"cannot write under {root}: {exc}") from None
    with scratch_dir as scratch:
        csv_path = Path(scratch) / "export.csv"
        with conn.transaction():
            # the digest and the export must see the same rows
            conn.execute("set transaction isolation level repeatable read, read only")
            expected = _digests(conn, table, day, [tenant]).get(tenant, Digest(0, 0))
            versions = _row_versions(conn, table, day, [tenant]).get(tenant, (0, 0))
            if _still_good(existing, root, table, expected):
                assert existing is not None
                return _Archived(existing, False, versions)
            with (
                open(csv_path, "wb") as sink,
                conn.cursor().copy(export_sql(table), (tenant, *_bounds(day))) as copy,
            ):
                for block in copy:
                    sink.write(block)
        part = existing.part if existing else manifest.next_part(conn, table, tenant, day)
        path = relative_path(table, tenant, day, part)
        try:
            file_bytes = write_from_csv(table, csv_path, root / path)
        except OSError as exc:
            raise ArchiveError(f"cannot write {root / path}: {exc}") from None
    manifest.record_written(
        conn, table=table, tenant_id=tenant, day=day, part=part,
        schema_version=SCHEMA_VERSION, path=path, expected=expected, file_bytes=file_bytes,
    )  # fmt: skip
    try:
        found = read_digest(table, root / path)
        if found != expected:
            raise ArchiveError(
                f"{path} read back {found.rows} rows (checksum {found.checksum}), Postgres has"
                f" {expected.rows} (checksum {expected.checksum}); the file was removed"
            )
    except ArchiveError:
        (root / path).unlink(missing_ok=True)  # its rows are all still in Postgres
        raise
    manifest.record_verified(conn, table, tenant, day, part)
    if existing is not None and existing.path != path:
        (root / existing.path).unlink(missing_ok=True)  # an older version's copy of live rows
    entry = manifest.open_part(conn, table, tenant, day)
    assert entry is not None
    return _Archived(entry, True, versions)


def _still_good(existing: ManifestEntry | None, root: Path, table: str, expected: Digest) -> bool:
    """An earlier run's verified file that still holds exactly the rows in Postgres."""
    if (
        existing is None
        or existing.verified_at is None
        or existing.schema_version != SCHEMA_VERSION
        or existing.digest != expected
    ):
        return False
    try:
        return read_digest(table, root / existing.path) == expected
    except ArchiveError:
        return False


def _remove(
    conn: psycopg.Connection, table: str, day: date, archived: list[_Archived], present: int
) -> tuple[Outcome, list[_Archived], int, list[str]]:
    """Drop the partition or delete the verified tenants' rows; what was removed, kept, failed."""
    partition = _partition(table, day)
    try:
        with conn.transaction():
            conn.execute(sql.SQL("set local lock_timeout = {}").format(_LOCK_TIMEOUT))
            # readers go on; writers wait until the rows are checked and removed
            conn.execute(sql.SQL("lock table {} in exclusive mode").format(partition))
            tenants = {t for (t,) in conn.execute(
                sql.SQL("select distinct tenant_id from {}").format(partition)
            )}  # fmt: skip
            now = _row_versions(conn, table, day, [a.entry.tenant_id for a in archived])
            verified = [a for a in archived if now.get(a.entry.tenant_id) == a.versions]
            errors = [
                f"{table} {day} tenant {a.entry.tenant_id}: rows changed since {a.entry.path}"
                " was verified; kept, archived again next run"
                for a in archived
                if a not in verified
            ]
            entries = [a.entry for a in verified]
            kept = len(tenants - {e.tenant_id for e in entries})
            if kept == 0:
                conn.execute(
                    "select app.drop_daily_partition(%s::regclass, %s)", (f"raw.{table}", day)
                )
                manifest.record_dropped(conn, table, day, entries, "partition_dropped")
                return "partition_dropped", verified, 0, errors
            if verified:
                conn.execute(
                    sql.SQL("delete from {} where tenant_id = any(%s)").format(partition),
                    ([e.tenant_id for e in entries],),
                )
                manifest.record_dropped(conn, table, day, entries, "rows_deleted")
                return "rows_deleted", verified, kept, errors
            return "kept", [], kept, errors
    except psycopg.errors.LockNotAvailable:
        return "kept", [], present, [f"{table} {day}: partition busy; left for the next run"]
