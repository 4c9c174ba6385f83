"""Every day at 04:00 UTC, the previous day's SLA alerts and digest.

04:00 is the marts' freshness deadline (warehouse/checks.py): the warehouse builds the day at
02:00 and must be done by then. A late build only makes the alerts late, never wrong: a day
whose mart has no rows yet raises and clears nothing, and the next run of that partition
(a backfill, full-cycle) raises them.
"""

from __future__ import annotations

import dagster as dg

from dagster_project.alerting.assets import alert_digest, sla_alerts
from dagster_project.warehouse.partitions import daily_partitions

alerting_daily_job = dg.define_asset_job(
    "alerting_daily", selection=[sla_alerts, alert_digest], partitions_def=daily_partitions
)

alerting_daily_schedule = dg.build_schedule_from_partitioned_job(
    alerting_daily_job,
    hour_of_day=4,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
