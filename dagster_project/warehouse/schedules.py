"""Every day at 02:00 UTC, the previous day's partition."""

from __future__ import annotations

import dagster as dg

from dagster_project.warehouse.assets import warehouse_models
from dagster_project.warehouse.partitions import daily_partitions

warehouse_daily_job = dg.define_asset_job(
    "warehouse_daily", selection=[warehouse_models], partitions_def=daily_partitions
)

warehouse_daily_schedule = dg.build_schedule_from_partitioned_job(
    warehouse_daily_job, hour_of_day=2, minute_of_hour=0
)
