"""Every day at 02:00 UTC, the previous day's partition; every hour, an observation of the
tables dbt reads (their freshness checks read it)."""

from __future__ import annotations

import dagster as dg

from dagster_project.warehouse.assets import operational_tables, raw_logs, warehouse_models
from dagster_project.warehouse.checks import freshness_checks
from dagster_project.warehouse.partitions import daily_partitions

# the models and their dbt tests; the freshness checks ask about the clock, not about the
# day built, and are their sensor's to evaluate
warehouse_daily_job = dg.define_asset_job(
    "warehouse_daily",
    selection=dg.AssetSelection.assets(warehouse_models)
    - dg.AssetSelection.checks(*freshness_checks),
    partitions_def=daily_partitions,
)

warehouse_daily_schedule = dg.build_schedule_from_partitioned_job(
    warehouse_daily_job,
    hour_of_day=2,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

warehouse_sources_job = dg.define_asset_job(
    "observe_warehouse_sources", selection=[raw_logs, operational_tables]
)

warehouse_sources_schedule = dg.ScheduleDefinition(
    name="observe_warehouse_sources_hourly",
    job=warehouse_sources_job,
    cron_schedule="15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
