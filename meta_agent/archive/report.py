"""What a retention run did, per (table, day) partition: the operator's and Dagster's view."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

# what became of the partition's expired rows in Postgres
Outcome = Literal["partition_dropped", "rows_deleted", "kept"]


@dataclass(frozen=True)
class ArchivedFile:
    tenant_id: uuid.UUID
    path: str
    rows: int
    written: bool  # False: a file verified by an earlier run was verified again and reused
    removed: bool  # its rows are gone from Postgres


@dataclass(frozen=True)
class DayOutcome:
    """One (table, day) partition: what was archived, and what became of the rows in Postgres."""

    table: str
    day: date
    files: tuple[ArchivedFile, ...]
    outcome: Outcome
    tenants_kept: int  # tenants whose rows stay in the partition
    errors: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


@dataclass(frozen=True)
class RetentionReport:
    today: date
    archive_root: Path
    days: tuple[DayOutcome, ...]

    @property
    def errors(self) -> list[str]:
        return [error for day in self.days for error in day.errors]

    @property
    def rows_removed(self) -> int:
        """Rows now only in the archive: verified on disk and gone from Postgres."""
        return sum(f.rows for day in self.days for f in day.files if f.removed)

    @property
    def partitions_dropped(self) -> int:
        return sum(day.outcome == "partition_dropped" for day in self.days)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: for `archive run --json` and Dagster's materialization metadata."""
        return {
            "today": self.today.isoformat(),
            "archive_root": str(self.archive_root),
            "rows_removed": self.rows_removed,
            "partitions_dropped": self.partitions_dropped,
            "days": [
                {
                    **asdict(day),
                    "day": day.day.isoformat(),
                    "rows": day.rows,
                    "files": [{**asdict(f), "tenant_id": str(f.tenant_id)} for f in day.files],
                    "errors": list(day.errors),
                }
                for day in self.days
            ],
            "errors": self.errors,
        }
