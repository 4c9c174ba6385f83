"""The Parquet archive's manifest (migration 0009): one row per file retention wrote."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import TableModel


class ArchiveManifestEntry(TableModel):
    """A file of one tenant's rows of one raw table and day: written, verified, then the rows
    removed from Postgres (by dropping the day's partition or deleting the tenant's rows)."""

    __table__ = "public.archive_manifest"

    table_name: Literal["executions", "actions"]
    tenant_id: uuid.UUID
    day: dt.date
    part: int = Field(ge=0)
    schema_version: int = Field(gt=0)
    path: str
    row_count: int = Field(ge=0)
    checksum: Decimal
    file_bytes: int = Field(ge=0)
    written_at: AwareDatetime
    verified_at: AwareDatetime | None = None
    dropped_at: AwareDatetime | None = None
    removal: Literal["partition_dropped", "rows_deleted"] | None = None
