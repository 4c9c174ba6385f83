"""Traffic that looks like people and schedules: busy days, quiet nights, sessions, a cron."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from meta_agent.simulate import FleetSpec, expected_executions


def test_the_fleet_runs_about_the_requested_executions_per_day(
    spec: FleetSpec, executions: pl.DataFrame
) -> None:
    expected = spec.executions_per_day * spec.days
    assert abs(executions.height - expected) < 0.05 * expected
    assert expected_executions(spec) == executions.height
    assert executions["started_at"].dt.date().min() == spec.start_day
    assert executions["started_at"].dt.date().max() == spec.end_day


def test_interactive_agents_are_busier_by_day_than_at_night(executions: pl.DataFrame) -> None:
    people = executions.filter(pl.col("agent") != "n8n-lead-workflow")
    hours = people["started_at"].dt.hour()
    assert hours.is_between(13, 16).sum() > 3 * hours.is_between(1, 4).sum()


def test_weekends_are_quiet_except_for_the_schedule(executions: pl.DataFrame) -> None:
    per_day = executions.group_by("agent", pl.col("started_at").dt.weekday().alias("weekday")).agg(
        pl.len().alias("runs")
    )
    weekend = pl.col("weekday") >= 6
    means = per_day.group_by("agent", weekend.alias("weekend")).agg(pl.col("runs").mean())
    ratio = means.pivot(on="weekend", index="agent", values="runs").with_columns(
        (pl.col("true") / pl.col("false")).alias("ratio")
    )
    ratios = dict(zip(ratio["agent"], ratio["ratio"], strict=True))
    assert ratios["n8n-lead-workflow"] > 0.85
    for agent in ("ticket-classifier", "pm-assistant", "content-writer"):
        assert ratios[agent] < 0.7


def test_sessions_group_several_executions_of_people_facing_agents(
    executions: pl.DataFrame,
) -> None:
    sessions = executions.group_by("agent").agg(
        pl.col("session_id").null_count().alias("without"),
        (pl.len() / pl.col("session_id").n_unique()).alias("per_session"),
    )
    by_agent = {row["agent"]: row for row in sessions.iter_rows(named=True)}
    for agent in ("pm-assistant", "content-writer"):
        assert by_agent[agent]["without"] == 0
        assert by_agent[agent]["per_session"] > 1.5
    spans = (
        executions.filter(pl.col("session_id").is_not_null())
        .group_by("session_id")
        .agg(
            (pl.col("started_at").max() - pl.col("started_at").min()).alias("span"),
            pl.col("agent").n_unique().alias("agents"),
        )
    )
    assert spans["agents"].max() == 1
    assert (spans["span"] < timedelta(days=1)).all()
    for agent in ("ticket-classifier", "n8n-lead-workflow"):
        assert by_agent[agent]["without"] == executions.filter(pl.col("agent") == agent).height


def test_the_workflow_runs_on_an_even_schedule(executions: pl.DataFrame) -> None:
    runs = executions.filter(pl.col("agent") == "n8n-lead-workflow").sort("started_at")
    gaps = runs["started_at"].diff().dt.total_milliseconds().drop_nulls().cast(pl.Float64)
    assert gaps.std() < 0.5 * gaps.mean()  # type: ignore[operator]
