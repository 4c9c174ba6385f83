"""The warehouse's assets: the tables dbt reads, observed as source assets, and the dbt
models as daily-partitioned assets whose dbt tests run with them as asset checks.

No `from __future__ import annotations` here: Dagster reads the `context` annotation at runtime.
"""

import json
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import psycopg
from dagster_dbt import DbtCliResource, dbt_assets
from psycopg import sql

from dagster_project.warehouse.partitions import daily_partitions, partition_vars
from dagster_project.warehouse.resources import WarehouseDatabase, dbt_project
from dagster_project.warehouse.translator import WarehouseTranslator
from meta_agent.archive import removed_days

# The dbt sources (dbt/models/staging/_staging.yml), keyed as the translator keys them, so
# lineage runs raw → staging → intermediate → marts in the UI.
RAW_TABLES = ("executions", "actions")
OPERATIONAL_TABLES = ("agents", "prompt_versions", "sla_definitions")

with warnings.catch_warnings():
    # observable source assets are "beta" in Dagster 1.13, and the way to observe a table
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.multi_observable_source_asset(  # type: ignore[untyped-decorator]
        specs=[
            dg.AssetSpec(
                ["raw", table],
                group_name="raw",
                kinds={"postgres"},
                description=f"raw.{table}: agent logs as ingest writes them, a partition a day.",
            )
            for table in RAW_TABLES
        ],
        name="raw_logs",
    )
    def raw_logs(context: dg.AssetExecutionContext, postgres: WarehouseDatabase) -> Iterator[Any]:
        with postgres.connect() as conn:
            for table in RAW_TABLES:
                yield _observe_raw(conn, table)

    @dg.multi_observable_source_asset(  # type: ignore[untyped-decorator]
        specs=[
            dg.AssetSpec(
                ["operational", table],
                group_name="operational",
                kinds={"postgres"},
                description=f"public.{table}: the operational registry, edited by people.",
            )
            for table in OPERATIONAL_TABLES
        ],
        name="operational_tables",
    )
    def operational_tables(
        context: dg.AssetExecutionContext, postgres: WarehouseDatabase
    ) -> Iterator[Any]:
        with postgres.connect() as conn:
            for table in OPERATIONAL_TABLES:
                yield _observe_operational(conn, table)


def _observe_raw(conn: psycopg.Connection, table: str) -> dg.ObserveResult:
    """The newest day holding rows, counted exactly; the total only as the planner's estimate
    (counting every day of history would read all of it on every observation)."""
    partitions = conn.execute(
        "select c.relname, greatest(c.reltuples, 0)::bigint from pg_inherits i"
        " join pg_class c on c.oid = i.inhrelid where i.inhparent = %s::regclass"
        " order by c.relname desc",  # <table>_YYYYMMDD: newest first
        (f"raw.{table}",),
    ).fetchall()
    metadata: dict[str, Any] = {
        "partitions": len(partitions),
        "estimated_rows": sum(estimate for _, estimate in partitions),
    }
    version = "empty"
    for name, _ in partitions:
        partition = sql.Identifier("raw", name)
        found = conn.execute(
            sql.SQL("select count(*), max(ingested_at) from {}").format(partition)
        ).fetchone()
        if found is None or found[0] == 0:
            continue  # ingest creates partitions a few days ahead
        rows, latest = found
        day = f"{name[-8:-4]}-{name[-4:-2]}-{name[-2:]}"
        metadata.update(newest_day=day, newest_day_rows=rows, **_last_updated(latest))
        version = f"{day}:{rows}:{latest.isoformat()}"
        break
    return dg.ObserveResult(
        asset_key=["raw", table], data_version=dg.DataVersion(version), metadata=metadata
    )


def _observe_operational(conn: psycopg.Connection, table: str) -> dg.ObserveResult:
    found = conn.execute(
        sql.SQL("select count(*), max(updated_at) from {}").format(sql.Identifier(table))
    ).fetchone()
    rows, latest = found if found else (0, None)
    metadata: dict[str, Any] = {"dagster/row_count": rows}
    if latest is not None:
        metadata.update(_last_updated(latest))
    version = f"{rows}:{latest.isoformat() if latest else '-'}"
    return dg.ObserveResult(
        asset_key=["operational", table], data_version=dg.DataVersion(version), metadata=metadata
    )


def _last_updated(moment: datetime) -> dict[str, Any]:
    # the key the freshness checks read an observation's time from
    return {"dagster/last_updated_timestamp": dg.TimestampMetadataValue(moment.timestamp())}


@dbt_assets(
    manifest=dbt_project().manifest_path,
    project=dbt_project(),
    partitions_def=daily_partitions,
    dagster_dbt_translator=WarehouseTranslator(),
    # a backfill of a range is one dbt build over the whole window, not one per day
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def warehouse_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, postgres: WarehouseDatabase
) -> Iterator[Any]:
    window = context.partition_time_window
    variables = partition_vars(window.start, window.end)
    with postgres.connect() as conn:
        archived = removed_days(conn, window.start.date(), (window.end - timedelta(days=1)).date())
    if archived:
        # the marts would be rebuilt from what is left in Postgres: smaller, wrong numbers
        days = ", ".join(day.isoformat() for day in archived)
        raise dg.Failure(
            description=f"the raw logs of {days} live only in the Parquet archive now; their marts"
            " stay as they were built (query the archive with `python -m meta_agent archive query`)"
        )
    yield from dbt.cli(["build", "--vars", json.dumps(variables)], context=context).stream()
