"""The archive domain's definitions: the retention asset, daily at 03:00 UTC, an hour after
the warehouse has built the previous day."""

from __future__ import annotations

import dagster as dg

from dagster_project.archive.assets import ArchiveRoot, raw_archive
from dagster_project.warehouse.partitions import daily_partitions
from dagster_project.warehouse.resources import WarehouseDatabase

archive_daily_job = dg.define_asset_job(
    "archive_daily", selection=[raw_archive], partitions_def=daily_partitions
)

archive_daily_schedule = dg.build_schedule_from_partitioned_job(
    archive_daily_job,
    hour_of_day=3,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def definitions(database_url: str, archive_dir: str) -> dg.Definitions:
    return dg.Definitions(
        assets=[raw_archive],
        jobs=[archive_daily_job],
        schedules=[archive_daily_schedule],
        resources={
            "raw_database": WarehouseDatabase(url=database_url),
            "archive_root": ArchiveRoot(path=archive_dir),
        },
    )
