"""The alerting domain's definitions, for one database (the owner URL)."""

from __future__ import annotations

import dagster as dg

from dagster_project.alerting.assets import alert_digest, sla_alerts
from dagster_project.alerting.resources import AlertingDatabase
from dagster_project.alerting.schedules import alerting_daily_job, alerting_daily_schedule


def definitions(database_url: str) -> dg.Definitions:
    return dg.Definitions(
        assets=[sla_alerts, alert_digest],
        jobs=[alerting_daily_job],
        schedules=[alerting_daily_schedule],
        resources={"alerting_database": AlertingDatabase(url=database_url)},
    )
