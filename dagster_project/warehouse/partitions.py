"""Daily UTC partitions, and the one pure mapping from a partition window to dbt vars."""

from __future__ import annotations

import datetime as dt

import dagster as dg

# The first day the warehouse materialises; backfills reach back to it.
FIRST_DAY = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=0)


def partition_vars(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    """dbt vars for the window [start, end): UTC dates, end exclusive, as the models expect."""
    if end <= start:
        raise ValueError(f"an empty partition window: {start} to {end}")
    as_utc = [moment.astimezone(dt.UTC) if moment.tzinfo else moment for moment in (start, end)]
    return {"start_date": as_utc[0].date().isoformat(), "end_date": as_utc[1].date().isoformat()}
