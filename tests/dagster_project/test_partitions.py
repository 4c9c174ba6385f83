"""The partition → dbt vars mapping: pure, so tested without Dagster or a database."""

from __future__ import annotations

import datetime as dt

import pytest

from dagster_project.warehouse.partitions import partition_vars


def test_a_day_becomes_its_date_and_the_next_as_the_exclusive_end():
    start = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    assert partition_vars(start, start + dt.timedelta(days=1)) == {
        "start_date": "2026-11-27",
        "end_date": "2026-11-28",
    }


def test_a_backfill_range_becomes_one_window():
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert partition_vars(start, start + dt.timedelta(days=7))["end_date"] == "2026-11-08"


def test_times_in_other_zones_are_read_as_utc():
    plus_two = dt.timezone(dt.timedelta(hours=2))
    start = dt.datetime(2026, 11, 28, 2, 0, tzinfo=plus_two)  # midnight UTC
    assert partition_vars(start, start + dt.timedelta(days=1))["start_date"] == "2026-11-28"


def test_an_empty_window_is_refused():
    moment = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="empty partition window"):
        partition_vars(moment, moment)
