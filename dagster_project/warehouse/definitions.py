"""The warehouse domain's definitions, for one database."""

from __future__ import annotations

import dagster as dg

from dagster_project.warehouse.assets import warehouse_models
from dagster_project.warehouse.resources import dbt_resource
from dagster_project.warehouse.schedules import warehouse_daily_job, warehouse_daily_schedule


def definitions(database_url: str) -> dg.Definitions:
    return dg.Definitions(
        assets=[warehouse_models],
        jobs=[warehouse_daily_job],
        schedules=[warehouse_daily_schedule],
        resources={"dbt": dbt_resource(database_url)},
    )
