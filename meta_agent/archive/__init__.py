"""The Parquet archive of raw logs past retention, and SQL over it with DuckDB.

`run_retention()` archives each tenant's expired days, verifies the files and then drops the
rows from Postgres (retention.py); `run_query()` runs DuckDB over the archive (query.py);
`archive_app` (cli.py) is `python -m meta_agent archive`.
"""

from meta_agent.archive.files import ArchiveError
from meta_agent.archive.manifest import removed_days
from meta_agent.archive.query import connect_archive, run_query
from meta_agent.archive.report import ArchivedFile, DayOutcome, RetentionReport
from meta_agent.archive.retention import DEFAULT_RETENTION_DAYS, run_retention
from meta_agent.archive.schema import SCHEMA_VERSION

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
