"""The daily cycle in-process: every asset of the definitions for a day (or a range of days)
in one Dagster run — `meta_agent full-cycle`, `meta_agent aggregate` and `make demo`.

Every asset means every asset: the observable sources are observed, each daily-partitioned
asset is built for the window, unpartitioned assets once, and every asset check runs with its
asset, except the freshness checks, which ask about the wall clock rather than the day built
and are evaluated by their sensor.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import dagster as dg

CYCLE_JOB = "full_cycle"
# the metadata key Dagster's freshness-check factories put on each check spec
_FRESHNESS_PARAMS = "dagster/freshness_params"
_RANGE_START, _RANGE_END = (
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
)


@dataclass
class AssetOutcome:
    """What one run did to one asset."""

    key: str
    materializations: int = 0
    observations: int = 0
    checks_passed: int = 0
    failed_checks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CycleReport:
    first_day: dt.date
    last_day: dt.date
    success: bool
    run_id: str
    seconds: float
    assets: list[AssetOutcome]
    failed_steps: list[str]

    @property
    def failed_checks(self) -> list[str]:
        return [f"{a.key}:{name}" for a in self.assets for name in a.failed_checks]


def cycle_job(defs: dg.Definitions) -> dg.JobDefinition:
    """A job over every asset and every non-freshness check of `defs`."""
    graph = defs.resolve_asset_graph()
    freshness = [
        key
        for key in graph.asset_check_keys
        if _FRESHNESS_PARAMS in graph.get_check_spec(key).metadata
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # include_sources: observable sources
        selection: dg.AssetSelection = dg.AssetSelection.all(include_sources=True)
    if freshness:
        selection = selection - dg.AssetSelection.checks(*freshness)
    job = dg.define_asset_job(CYCLE_JOB, selection=selection)
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(CYCLE_JOB)


def run_cycle(
    defs: dg.Definitions,
    first_day: dt.date,
    last_day: dt.date | None = None,
    *,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "WARNING",
) -> CycleReport:
    """Every asset of `defs` for [first_day, last_day] (one day if `last_day` is None)."""
    return run_window(cycle_job(defs), first_day, last_day, instance=instance, log_level=log_level)


def run_window(
    job: dg.JobDefinition,
    first_day: dt.date,
    last_day: dt.date | None = None,
    *,
    instance: dg.DagsterInstance | None = None,
    log_level: str = "WARNING",
) -> CycleReport:
    """Run `job` for the days [first_day, last_day] in one run.

    A range is one partition window: dbt builds it in one invocation (vars start_date and
    end_date), which gives the marts of the days run one by one. `log_level` is that of
    Dagster's console log (stderr); dbt's own output goes to stdout whatever it is.
    """
    last_day = last_day or first_day
    if last_day < first_day:
        raise ValueError(f"the range ends ({last_day}) before it starts ({first_day})")
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    began = time.perf_counter()
    if first_day == last_day:
        result = job.execute_in_process(
            run_config, instance, partition_key=first_day.isoformat(), raise_on_error=False
        )
    else:
        tags = {_RANGE_START: first_day.isoformat(), _RANGE_END: last_day.isoformat()}
        result = job.execute_in_process(run_config, instance, tags=tags, raise_on_error=False)
    return CycleReport(
        first_day=first_day,
        last_day=last_day,
        success=result.success,
        run_id=result.run_id,
        seconds=time.perf_counter() - began,
        assets=_outcomes(result),
        failed_steps=[event.step_key or "?" for event in result.get_step_failure_events()],
    )


def _outcomes(result: dg.ExecuteInProcessResult) -> list[AssetOutcome]:
    found: dict[str, AssetOutcome] = {}

    def outcome(key: dg.AssetKey) -> AssetOutcome:
        name = key.to_user_string()
        return found.setdefault(name, AssetOutcome(name))

    for event in result.all_events:
        if event.is_step_materialization and event.asset_key is not None:
            outcome(event.asset_key).materializations += 1
        elif event.event_type == dg.DagsterEventType.ASSET_OBSERVATION and event.asset_key:
            outcome(event.asset_key).observations += 1
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            target = outcome(evaluation.asset_key)
            if evaluation.passed:
                target.checks_passed += 1
            else:
                target.failed_checks.append(evaluation.check_name)
    return sorted(found.values(), key=lambda a: a.key)


def summary_lines(report: CycleReport) -> list[str]:
    """One line per asset, then the verdict: what `meta_agent full-cycle` prints."""
    window = (
        str(report.first_day)
        if report.first_day == report.last_day
        else f"{report.first_day} to {report.last_day}"
    )
    lines = []
    for asset in report.assets:
        did = []
        if asset.observations:
            did.append("observed")
        if asset.materializations:
            did.append("materialized")
        checks = asset.checks_passed + len(asset.failed_checks)
        if checks:
            did.append(f"checks {asset.checks_passed}/{checks} passed")
        for name in asset.failed_checks:
            did.append(f"FAILED {name}")
        lines.append(f"  {asset.key:55} {', '.join(did) or '-'}")
    by_kind: dict[str, int] = defaultdict(int)
    for asset in report.assets:
        by_kind["materialized"] += bool(asset.materializations)
        by_kind["observed"] += bool(asset.observations)
    verdict = "ok" if report.success and not report.failed_checks else "FAILED"
    lines.append(
        f"{window}: {verdict}: {by_kind['materialized']} assets materialized,"
        f" {by_kind['observed']} observed, {len(report.failed_checks)} failed checks,"
        f" in {report.seconds:.1f} s (run {report.run_id})"
    )
    if report.failed_steps:
        lines.append(f"failed steps: {', '.join(report.failed_steps)}")
    return lines
