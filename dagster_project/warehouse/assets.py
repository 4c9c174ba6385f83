"""The dbt models as daily-partitioned assets; dbt tests run with them as asset checks.

No `from __future__ import annotations` here: Dagster reads the `context` annotation at runtime.
"""

import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project.warehouse.partitions import daily_partitions, partition_vars
from dagster_project.warehouse.resources import dbt_project
from dagster_project.warehouse.translator import WarehouseTranslator


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    partitions_def=daily_partitions,
    dagster_dbt_translator=WarehouseTranslator(),
)
def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    window = context.partition_time_window
    variables = partition_vars(window.start, window.end)
    yield from dbt.cli(["build", "--vars", json.dumps(variables)], context=context).stream()
