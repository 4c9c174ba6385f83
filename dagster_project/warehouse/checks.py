"""Freshness checks: the marts hold yesterday's partition by 04:00 UTC (the schedule builds it
at 02:00), and the raw logs received rows within the last 26 hours (as dbt's source freshness
says, `dbt/models/staging/_staging.yml`). dbt's own tests are asset checks of the dbt assets.

Dagster 1.13 marks these factories superseded by `FreshnessPolicy`; they are used because
their results are asset checks, with history in the UI and a sensor that evaluates them.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

from dagster_project.warehouse.assets import raw_logs, warehouse_models

MART_DEADLINE_CRON = "0 4 * * *"
RAW_LOGS_MAX_AGE = timedelta(hours=26)

mart_keys = sorted(
    (key for key in warehouse_models.keys if key.path[0] == "marts"),
    key=lambda k: k.to_user_string(),
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    mart_freshness_checks = dg.build_time_partition_freshness_checks(
        assets=mart_keys,
        deadline_cron=MART_DEADLINE_CRON,
        timezone="UTC",
        severity=dg.AssetCheckSeverity.ERROR,
    )
    raw_freshness_checks = dg.build_last_update_freshness_checks(
        assets=list(raw_logs.keys),
        lower_bound_delta=RAW_LOGS_MAX_AGE,
        severity=dg.AssetCheckSeverity.WARN,
    )

freshness_checks = [*mart_freshness_checks, *raw_freshness_checks]
