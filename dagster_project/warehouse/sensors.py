"""The sensor that evaluates the freshness checks between runs (a run that updates an asset
evaluates its checks itself)."""

from __future__ import annotations

import warnings

import dagster as dg

from dagster_project.warehouse.checks import freshness_checks

with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    warehouse_freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks,
        name="warehouse_freshness_sensor",
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
