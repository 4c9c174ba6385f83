"""Rows that the raw tables of migration 0002 accept, and that hang together as real logs do."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from meta_agent.simulate import FleetSpec, generate
from meta_agent.simulate.frames import ACTION_SCHEMA, EXECUTION_SCHEMA
from meta_agent.simulate.profiles import MODEL_PRICES
from tests.simulate.conftest import allowed_values, table_columns


def test_frames_have_the_columns_of_the_raw_tables_in_order(
    executions: pl.DataFrame, actions: pl.DataFrame
) -> None:
    expected_executions = [c for c in table_columns("raw.executions") if c != "ingested_at"]
    expected_actions = [c for c in table_columns("raw.actions") if c != "ingested_at"]
    assert list(EXECUTION_SCHEMA) == expected_executions
    assert list(ACTION_SCHEMA) == expected_actions
    assert actions.schema == ACTION_SCHEMA
    assert executions.drop("agent").schema == EXECUTION_SCHEMA


@pytest.mark.parametrize(
    ("table", "column"),
    [("raw.executions", "status"), ("raw.actions", "status"), ("raw.actions", "action_type")],
)
def test_text_values_are_allowed_by_the_schema_checks(
    executions: pl.DataFrame, actions: pl.DataFrame, table: str, column: str
) -> None:
    frame = executions if table == "raw.executions" else actions
    assert set(frame[column].unique()) <= allowed_values(table, column)


def test_ids_are_unique_uuid7_carrying_their_start_millisecond(
    executions: pl.DataFrame, actions: pl.DataFrame
) -> None:
    for frame, key in ((executions, "execution_id"), (actions, "action_id")):
        assert frame[key].n_unique() == frame.height
        assert frame[key].str.slice(14, 1).unique().to_list() == ["7"]
        assert set(frame[key].str.slice(19, 1).unique()) <= set("89ab")
        millis = frame[key].str.replace_all("-", "").str.slice(0, 12).str.to_integer(base=16)
        assert (millis == frame["started_at"].dt.epoch("ms")).all()


def test_every_action_belongs_to_an_execution_of_the_same_agent(
    executions: pl.DataFrame, actions: pl.DataFrame
) -> None:
    owners = actions.join(
        executions.select("execution_id", pl.col("agent_id").alias("owner")),
        on="execution_id",
        how="left",
    )
    assert owners["owner"].null_count() == 0
    assert (owners["owner"] == owners["agent_id"]).all()
    assert actions["execution_id"].n_unique() == executions.height


def test_actions_lie_inside_their_execution(
    executions: pl.DataFrame, actions: pl.DataFrame
) -> None:
    joined = actions.join(
        executions.select("execution_id", "started_at", "ended_at"),
        on="execution_id",
        suffix="_execution",
    )
    assert (joined["started_at"] >= joined["started_at_execution"]).all()
    assert (joined["ended_at"] <= joined["ended_at_execution"]).all()
    assert (joined["started_at"] <= joined["ended_at"]).all()


def test_nested_actions_lie_inside_their_parent(actions: pl.DataFrame) -> None:
    children = actions.filter(pl.col("parent_action_id").is_not_null())
    assert children.height > 0
    joined = children.join(
        actions.select(
            pl.col("action_id").alias("parent_action_id"),
            pl.col("execution_id").alias("parent_execution"),
            pl.col("started_at").alias("parent_start"),
            pl.col("ended_at").alias("parent_end"),
            pl.col("sequence").alias("parent_sequence"),
        ),
        on="parent_action_id",
    )
    assert joined.height == children.height
    assert (joined["execution_id"] == joined["parent_execution"]).all()
    assert (joined["started_at"] >= joined["parent_start"]).all()
    assert (joined["ended_at"] <= joined["parent_end"]).all()
    assert (joined["sequence"] > joined["parent_sequence"]).all()


def test_sequence_numbers_each_action_of_an_execution_in_time_order(actions: pl.DataFrame) -> None:
    per_execution = actions.group_by("execution_id").agg(
        pl.len().alias("actions"),
        pl.col("sequence").n_unique().alias("distinct"),
        pl.col("sequence").max().alias("last"),
        pl.col("started_at").sort_by("sequence").diff().dt.total_microseconds().min().alias("step"),
    )
    assert (per_execution["distinct"] == per_execution["actions"]).all()
    assert (per_execution["last"] == per_execution["actions"] - 1).all()
    assert (per_execution["step"].fill_null(0) >= 0).all()


def test_execution_totals_are_the_sums_of_their_actions(
    executions: pl.DataFrame, actions: pl.DataFrame
) -> None:
    sums = actions.group_by("execution_id").agg(
        pl.col("cost_usd").sum().alias("action_cost"),
        pl.col("input_tokens").sum().alias("action_input"),
        pl.col("output_tokens").sum().alias("action_output"),
    )
    joined = executions.join(sums, on="execution_id")
    assert joined.height == executions.height
    cost_gap = (joined["cost_usd"].cast(pl.Float64) - joined["action_cost"].cast(pl.Float64)).abs()
    assert (cost_gap < 1e-9).all()
    assert (joined["input_tokens"] == joined["action_input"]).all()
    assert (joined["output_tokens"] == joined["action_output"]).all()


def test_costs_tokens_and_durations_are_never_negative(
    executions: pl.DataFrame, actions: pl.DataFrame
) -> None:
    for frame in (executions, actions):
        for column in ("cost_usd", "input_tokens", "output_tokens", "duration_ms"):
            assert (frame[column] >= 0).all(), column
        span = (frame["ended_at"] - frame["started_at"]).dt.total_microseconds() / 1000
        assert ((span - frame["duration_ms"]).abs() < 1e-6).all()


def test_only_llm_calls_cost_money_at_list_price(actions: pl.DataFrame) -> None:
    others = actions.filter(pl.col("action_type") != "llm_inference")
    assert others["cost_usd"].cast(pl.Float64).max() == 0
    assert others["model"].null_count() == others.height
    billed = actions.filter((pl.col("action_type") == "llm_inference") & (pl.col("cost_usd") > 0))
    for model, calls in billed.partition_by("model", as_dict=True).items():
        price = MODEL_PRICES[str(model[0])]
        expected = (
            calls["input_tokens"] * price.usd_per_mtok_input
            + calls["output_tokens"] * price.usd_per_mtok_output
        ) / 1e6
        assert ((calls["cost_usd"].cast(pl.Float64) - expected).abs() <= 5e-9).all()


def test_a_failed_execution_carries_the_error_of_the_action_that_failed(
    executions: pl.DataFrame, actions: pl.DataFrame
) -> None:
    succeeded = executions.filter(pl.col("status") == "success")
    assert succeeded["error_type"].null_count() == succeeded.height
    failed = executions.filter(pl.col("status") != "success")
    assert failed["error_type"].null_count() == 0
    failing_actions = actions.filter(
        (pl.col("status") != "success") & (pl.col("action_type") != "error")
    ).select("execution_id", "error_type", "error_message", pl.col("status").alias("action_status"))
    matched = failed.join(failing_actions, on=["execution_id", "error_type", "error_message"])
    assert matched["execution_id"].n_unique() == failed.height
    # every dead execution also logs one `error` event, as the SDK does
    events = actions.filter(pl.col("action_type") == "error")
    assert sorted(events["execution_id"]) == sorted(failed["execution_id"])


def test_a_fleet_has_a_realistic_mix(executions: pl.DataFrame, actions: pl.DataFrame) -> None:
    assert 3.0 <= actions.height / executions.height <= 6.0
    statuses = executions["status"].value_counts()
    assert set(statuses["status"]) == {"success", "failure", "timeout"}
    assert (executions["status"] == "success").sum() > 0.9 * executions.height
    assert set(actions["action_type"].unique()) == {
        "tool_call", "llm_inference", "retrieval", "human_intervention", "decision", "error"
    }  # fmt: skip
    assert (actions["parent_action_id"].is_not_null()).sum() > 0


def test_jsonb_columns_hold_json_objects(executions: pl.DataFrame, actions: pl.DataFrame) -> None:
    for frame, columns in (
        (executions, ("input", "output", "metadata")),
        (actions, ("attributes",)),
    ):
        for column in columns:
            for text in frame[column].drop_nulls().unique():
                assert isinstance(json.loads(text), dict), (column, text)
    assert executions["metadata"].null_count() == 0
    assert actions["attributes"].null_count() == 0


def test_a_hundred_thousand_executions_generate_in_one_go() -> None:
    big = FleetSpec(seed=5, end_day=date(2025, 3, 12), days=1, executions_per_day=100_000)
    executions, actions = generate(big)
    assert 100_000 <= executions.height <= 125_000  # a Wednesday: above the weekly mean
    assert actions["action_id"].n_unique() == actions.height


def test_an_idle_fleet_yields_empty_frames_of_the_same_shape() -> None:
    idle = FleetSpec(seed=5, end_day=date(2025, 3, 12), days=2, executions_per_day=0)
    executions, actions = generate(idle)
    assert (executions.height, actions.height) == (0, 0)
    assert executions.schema == EXECUTION_SCHEMA
    assert actions.schema == ACTION_SCHEMA
