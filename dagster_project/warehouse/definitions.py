"""The warehouse domain's definitions, for one database."""

from __future__ import annotations

import dagster as dg

from dagster_project.warehouse.assets import operational_tables, raw_logs, warehouse_models
from dagster_project.warehouse.checks import freshness_checks
from dagster_project.warehouse.resources import WarehouseDatabase, dbt_resource
from dagster_project.warehouse.schedules import (
    warehouse_daily_job,
    warehouse_daily_schedule,
    warehouse_sources_job,
    warehouse_sources_schedule,
)
from dagster_project.warehouse.sensors import warehouse_freshness_sensor


def definitions(database_url: str) -> dg.Definitions:
    return dg.Definitions(
        assets=[raw_logs, operational_tables, warehouse_models],
        asset_checks=freshness_checks,
        jobs=[warehouse_daily_job, warehouse_sources_job],
        schedules=[warehouse_daily_schedule, warehouse_sources_schedule],
        sensors=[warehouse_freshness_sensor],
        resources={
            "dbt": dbt_resource(database_url),
            "postgres": WarehouseDatabase(url=database_url),
        },
    )
