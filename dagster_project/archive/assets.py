"""The daily retention asset: each day past a tenant's retention is written to Parquet,
verified, and only then dropped from the raw tables (meta_agent.archive does the work).

No `from __future__ import annotations` here: Dagster reads the `context` annotation at runtime.
"""

import warnings
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.warehouse.partitions import daily_partitions
from dagster_project.warehouse.resources import WarehouseDatabase
from meta_agent.archive import run_retention

RAW_KEYS = [dg.AssetKey(["raw", "executions"]), dg.AssetKey(["raw", "actions"])]


class ArchiveRoot(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the Parquet archive lives (METAAGENT_ARCHIVE_DIR)."""

    path: str


# BackfillPolicy on @asset is "beta" in Dagster 1.13 and warns at import; the CLI's errors are
# one line on stderr, so the warning is silenced here, where the choice is made
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.asset(
        name="raw_archive",
        key_prefix=["archive"],
        group_name="archive",
        kinds={"parquet", "postgres"},
        partitions_def=daily_partitions,
        # a range (a backfill, full-cycle over days) is one run, as of the range's last day, like
        # the dbt assets' runs: one job can then hold both without splitting into a run a day
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=RAW_KEYS,
        description=(
            "Raw executions and actions past each tenant's retention (default 30 days), as Parquet"
            " partitioned by table, tenant and date; rows leave Postgres only once their file is"
            " verified. Query it with `python -m meta_agent archive query`."
        ),
    )
    def raw_archive(
        context: dg.AssetExecutionContext,
        raw_database: WarehouseDatabase,
        archive_root: ArchiveRoot,
    ) -> dg.MaterializeResult[Any]:
        # retention runs as of the end of the window's last day: it archives what expired by then
        today = context.partition_time_window.end.date()
        report = run_retention(raw_database.url, Path(archive_root.path), today=today)
        for line in report.errors:
            context.log.error(line)
        with raw_database.connect() as conn:
            # Autovacuum keeps each partition's statistics, never the partitioned parents'; the
            # planner reads those for plans across days, and dropped days change them.
            conn.execute("analyze raw.executions, raw.actions")
        if report.errors:
            raise dg.Failure(
                description=f"{len(report.errors)} day(s) could not be archived;"
                " nothing of them was dropped",
                metadata={"errors": dg.MetadataValue.json(report.errors)},
            )
        return dg.MaterializeResult(
            metadata={
                "rows_removed": report.rows_removed,
                "partitions_dropped": report.partitions_dropped,
                "report": dg.MetadataValue.json(report.as_dict()),
            }
        )
