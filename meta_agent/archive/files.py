"""Archive files on disk: where one goes, how it is written atomically, how it is read back.

A file appears under its final name only complete and on disk: it is written to a temporary
name in the same directory, fsynced, renamed over the final name, and the directory is fsynced
so the rename survives a crash. Temporary names do not end in `.parquet`, so readers globbing
the archive never see a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pcsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from meta_agent.archive.schema import (
    SCHEMA_VERSION,
    arrow_row_texts,
    arrow_schema,
    csv_read_types,
    to_archive_batch,
)
from meta_agent.errors import MetaAgentError

VERSION_KEY = b"meta_agent.schema_version"
# a row longer than a CSV block cannot be parsed; ingest caps a request at a few MB
_CSV_BLOCK_BYTES = 64 * 1024 * 1024
_READ_BATCH_ROWS = 64 * 1024


class ArchiveError(MetaAgentError):
    """A file could not be written or does not hold what Postgres holds; nothing was dropped."""


@dataclass(frozen=True)
class Digest:
    """Row count and order-independent checksum of a set of rows (see schema.py)."""

    rows: int
    checksum: int


def relative_path(table: str, tenant_id: uuid.UUID, day: date, part: int) -> str:
    """Where a file goes under the archive root: hive-style, schema version first."""
    return (
        f"v{SCHEMA_VERSION}/{table}/tenant_id={tenant_id}/date={day.isoformat()}"
        f"/part-{part}.parquet"
    )


def row_checksum(texts: Iterable[str]) -> int:
    """Sum of the first 8 bytes of each row text's MD5, read as signed big-endian integers."""
    total = 0
    for text in texts:
        digest = hashlib.md5(text.encode(), usedforsecurity=False).digest()
        total += int.from_bytes(digest[:8], "big", signed=True)
    return total


def write_from_csv(table: str, csv_path: Path, target: Path) -> int:
    """Convert a CSV export of raw.<table> into the Parquet file `target`; return its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    types = csv_read_types(table)
    reader = pcsv.open_csv(
        csv_path,
        read_options=pcsv.ReadOptions(column_names=list(types), block_size=_CSV_BLOCK_BYTES),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        # Postgres writes NULL as an empty unquoted field and '' as a quoted one
        convert_options=pcsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    try:
        with open(temporary, "wb") as sink:
            with pq.ParquetWriter(sink, arrow_schema(table), compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(to_archive_batch(table, batch))
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(target.parent)
    return target.stat().st_size


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_digest(table: str, path: Path) -> Digest:
    """Read a file back whole and digest its rows; raise if it is not a file of this version."""
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveError(f"{path} cannot be read back: {exc}") from None
    with parquet:
        version = (parquet.metadata.metadata or {}).get(VERSION_KEY)
        if version != str(SCHEMA_VERSION).encode():
            raise ArchiveError(f"{path} has schema version {version!r}, not {SCHEMA_VERSION}")
        if not parquet.schema_arrow.equals(arrow_schema(table)):
            raise ArchiveError(f"{path} does not have the columns of raw.{table}")
        rows = checksum = 0
        for batch in parquet.iter_batches(batch_size=_READ_BATCH_ROWS):
            rows += batch.num_rows
            checksum += row_checksum(arrow_row_texts(table, batch).to_pylist())
    return Digest(rows, checksum)
