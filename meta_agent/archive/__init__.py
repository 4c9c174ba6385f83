"""The Parquet archive of raw logs past retention, and SQL over it with DuckDB.

`run_retention()` archives each tenant's expired days, verifies the files and then drops the
rows from Postgres (retention.py); `run_query()` runs DuckDB over the archive (query.py);
`archive_app` (cli.py) is `python -m meta_agent archive`.

The names below load on first use: pyarrow and DuckDB take a second to import, and the CLI
should not pay it for commands that never touch the archive.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meta_agent.archive.files import ArchiveError
    from meta_agent.archive.manifest import removed_days
    from meta_agent.archive.query import connect_archive, run_query
    from meta_agent.archive.report import ArchivedFile, DayOutcome, RetentionReport
    from meta_agent.archive.retention import DEFAULT_RETENTION_DAYS, run_retention
    from meta_agent.archive.schema import SCHEMA_VERSION

_WHERE = {
    "ArchiveError": "files",
    "removed_days": "manifest",
    "connect_archive": "query",
    "run_query": "query",
    "ArchivedFile": "report",
    "DayOutcome": "report",
    "RetentionReport": "report",
    "DEFAULT_RETENTION_DAYS": "retention",
    "run_retention": "retention",
    "SCHEMA_VERSION": "schema",
}

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "SCHEMA_VERSION",
    "ArchiveError",
    "ArchivedFile",
    "DayOutcome",
    "RetentionReport",
    "connect_archive",
    "removed_days",
    "run_query",
    "run_retention",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"meta_agent.archive.{_WHERE[name]}"), name)
