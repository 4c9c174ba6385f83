"""SQL over the archive with DuckDB: views `executions` and `actions` on the Parquet files.

Each view reads every schema version's files of its table (`union_by_name`, so a later version
that adds columns reads alongside the first) with hive partitioning: the columns of
raw.<table>, plus `date` (DATE) from the path; `tenant_id` is both in the files and in the
path. A table with no files yet is an empty view with the same columns, so a query over both
tables works as soon as either has data.

The archive may briefly hold a file whose rows are still in Postgres (verified, not yet
dropped, or kept for a tenant whose rows changed): the manifest's `dropped_at` says which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from meta_agent.archive.files import ArchiveError
from meta_agent.archive.schema import TABLES, arrow_schema


def _files_glob(table: str) -> str:
    return f"v*/{table}/tenant_id=*/date=*/*.parquet"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect_archive(root: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the archive's views; raise if the archive holds no file."""
    root = root.expanduser().absolute()
    found = {table: any(root.glob(_files_glob(table))) for table in TABLES}
    if not any(found.values()):
        raise ArchiveError(
            f"the archive at {root} holds no files yet: retention has archived nothing"
            " (run `python -m meta_agent archive run`, or set METAAGENT_ARCHIVE_DIR)"
        )
    con = duckdb.connect(":memory:")
    for table in TABLES:
        if found[table]:
            source = (
                f"read_parquet({_quote(str(root / _files_glob(table)))},"
                " hive_partitioning = true, union_by_name = true,"
                " hive_types = {'tenant_id': VARCHAR, 'date': DATE})"
            )
        else:
            empty = pa.Table.from_batches([], schema=arrow_schema(table))
            con.register(f"_{table}_empty", empty)
            source = f"(select *, null::date as date from _{table}_empty)"
        con.execute(f"create view {table} as select * from {source}")
    return con


def run_query(root: Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of `query` over the archive; a bad query raises `ArchiveError`."""
    con = connect_archive(root)
    try:
        result = con.execute(query)
        if result.description is None:
            return [], []
        columns = [d[0] for d in result.description]
        return columns, result.fetchall()
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArchiveError(f"the query failed: {message}") from None
    finally:
        con.close()
