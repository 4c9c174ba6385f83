"""Two transactions creating the same day's partitions at once: the second waits for the first
and finds them there, instead of failing with DuplicateTable (concurrent ingest on a new day)."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.integration


def test_concurrent_callers_take_turns_and_each_partition_is_created_once(
    migrated_database: Any,
) -> None:
    parent = f"race_{uuid.uuid4().hex[:8]}"
    day = dt.date(2030, 1, 1)
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        conn.execute(
            f"create table public.{parent} (tenant_id uuid not null, at timestamptz not null)"
            " partition by range (at)"
        )
    results: list[Any] = []

    def create() -> None:
        try:
            with psycopg.connect(migrated_database.owner_url) as conn:
                row = conn.execute(
                    "select app.ensure_daily_partitions(%s::regclass, %s, %s)",
                    (f"public.{parent}", day, day + dt.timedelta(days=2)),
                ).fetchone()
                results.append(row[0] if row else None)
        except Exception as exc:  # the failure under test is DuplicateTable
            results.append(exc)

    first = psycopg.connect(migrated_database.owner_url)
    try:  # the first holds its transaction open; the others must wait, not fail
        created = first.execute(
            "select app.ensure_daily_partitions(%s::regclass, %s, %s)",
            (f"public.{parent}", day, day + dt.timedelta(days=2)),
        ).fetchone()
        others = [threading.Thread(target=create) for _ in range(4)]
        for thread in others:
            thread.start()
        time.sleep(0.5)  # the others have reached the function by now
        first.commit()
        for thread in others:
            thread.join(30)
    finally:
        first.close()
    assert created == (3,)
    assert results == [0, 0, 0, 0]
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        conn.execute(f"drop table public.{parent}")
