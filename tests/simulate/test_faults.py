"""Injected faults: planned from the seed, visible in the data, labelled exactly where they act."""

from __future__ import annotations

import dataclasses
import json

import polars as pl
import pytest

from meta_agent.simulate import FAULT_KINDS, FleetSpec, PlannedFault, planned_faults
from meta_agent.simulate.catalogue import TICKET_CLASSIFIER
from meta_agent.simulate.fleet import DEFAULT_TENANT_ID, prompt_version_id

FAILING_KINDS = (
    "tool_timeout_storm",
    "external_api_outage",
    "context_overflow",
    "prompt_regression",
)


def _fault(faults: tuple[PlannedFault, ...], kind: str) -> PlannedFault:
    return next(fault for fault in faults if fault.kind == kind)


def _label(kind: str) -> str:
    return json.dumps({"sim_fault": kind}, separators=(",", ":"))


def _inside(fault: PlannedFault) -> pl.Expr:
    return (pl.col("started_at") >= fault.started_at) & (pl.col("started_at") < fault.ended_at)


def test_every_kind_is_planned_once_on_an_agent_it_can_bite(
    faults: tuple[PlannedFault, ...],
) -> None:
    assert sorted(f.kind for f in faults) == sorted(FAULT_KINDS)
    by_kind = {f.kind: f.agent for f in faults}
    assert by_kind["tool_timeout_storm"] == "pm-assistant"
    assert by_kind["external_api_outage"] == "n8n-lead-workflow"
    for fault in faults:
        assert fault.ended_at > fault.started_at


def test_faults_on_one_agent_never_overlap(faults: tuple[PlannedFault, ...]) -> None:
    for a in faults:
        for b in faults:
            if a is not b and a.agent == b.agent:
                assert a.ended_at <= b.started_at or b.ended_at <= a.started_at


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_a_fault_labels_only_executions_of_its_agent_inside_its_window(
    executions: pl.DataFrame, faults: tuple[PlannedFault, ...], kind: str
) -> None:
    fault = _fault(faults, kind)
    labelled = executions.filter(pl.col("metadata") == _label(kind))
    assert labelled.height >= 10
    assert labelled["agent"].unique().to_list() == [fault.agent]
    assert labelled.select(_inside(fault).all()).item()


def test_unaffected_executions_carry_empty_metadata(executions: pl.DataFrame) -> None:
    allowed = {"{}", *(_label(kind) for kind in FAULT_KINDS)}
    assert set(executions["metadata"].unique()) == allowed


@pytest.mark.parametrize("kind", FAILING_KINDS)
def test_failure_rate_is_clearly_higher_inside_the_window(
    executions: pl.DataFrame, faults: tuple[PlannedFault, ...], kind: str
) -> None:
    fault = _fault(faults, kind)
    agent = executions.filter(pl.col("agent") == fault.agent)
    rates = agent.group_by(_inside(fault).alias("inside")).agg(
        (pl.col("status") != "success").mean().alias("failure_rate")
    )
    inside = rates.filter(pl.col("inside"))["failure_rate"].item()
    outside = rates.filter(~pl.col("inside"))["failure_rate"].item()
    assert inside > 3 * outside
    assert inside > outside + 0.05


def test_a_tool_timeout_storm_times_the_tool_out(
    executions: pl.DataFrame, actions: pl.DataFrame, faults: tuple[PlannedFault, ...]
) -> None:
    fault = _fault(faults, "tool_timeout_storm")
    hit = executions.filter(pl.col("metadata") == _label("tool_timeout_storm"))
    calls = actions.join(hit.select("execution_id"), on="execution_id").filter(
        pl.col("name") == fault.details["tool"]
    )
    timed_out = calls.filter(pl.col("status") == "timeout")
    assert timed_out.height > 0.7 * calls.height
    assert set(timed_out["error_type"]) == {"ToolTimeout"}
    assert (timed_out["duration_ms"] > 25_000).all()
    unfinished = hit.filter(pl.col("status") != "success")["status"]
    assert (unfinished == "timeout").sum() > 0.9 * unfinished.len()


def test_an_external_api_outage_answers_503(
    executions: pl.DataFrame, actions: pl.DataFrame, faults: tuple[PlannedFault, ...]
) -> None:
    fault = _fault(faults, "external_api_outage")
    failed = actions.filter(
        (pl.col("name") == fault.details["tool"]) & (pl.col("error_type") == "ExternalAPIError")
    ).join(executions.filter(_inside(fault)).select("execution_id"), on="execution_id")
    assert failed.height > 0
    assert failed["error_message"].str.contains("503").all()


def test_context_overflow_fills_the_model_context(
    executions: pl.DataFrame, actions: pl.DataFrame, faults: tuple[PlannedFault, ...]
) -> None:
    fault = _fault(faults, "context_overflow")
    window = fault.details["context_window"]
    overflowing = actions.filter(
        (pl.col("error_type") == "ContextWindowExceeded")
        & (pl.col("action_type") == "llm_inference")
    )
    assert overflowing.height > 0
    assert overflowing["input_tokens"].min() > window
    hit = executions.filter(pl.col("metadata") == _label("context_overflow"))
    assert hit["input_tokens"].min() > 0.85 * window
    assert set(overflowing["execution_id"]) <= set(hit["execution_id"])


def test_a_cost_blowup_loops_on_llm_calls(
    executions: pl.DataFrame, actions: pl.DataFrame, faults: tuple[PlannedFault, ...]
) -> None:
    fault = _fault(faults, "cost_blowup")
    llm_calls = (
        actions.filter(pl.col("action_type") == "llm_inference")
        .group_by("execution_id")
        .agg(pl.len().alias("llm_calls"))
    )
    agent = executions.filter(pl.col("agent") == fault.agent).join(llm_calls, on="execution_id")
    looped = pl.col("metadata") == _label("cost_blowup")
    means = agent.group_by(looped.alias("looped")).agg(
        pl.col("llm_calls").mean(), pl.col("cost_usd").cast(pl.Float64).mean().alias("cost")
    )
    hit = means.filter(pl.col("looped")).row(0, named=True)
    normal = means.filter(~pl.col("looped")).row(0, named=True)
    assert hit["llm_calls"] > 3 * normal["llm_calls"]
    assert hit["cost"] > 3 * normal["cost"]


def test_a_prompt_regression_switches_the_prompt_version_for_good(
    spec: FleetSpec, executions: pl.DataFrame, faults: tuple[PlannedFault, ...]
) -> None:
    fault = _fault(faults, "prompt_regression")
    profile = next(p for p in spec.profiles if p.name == fault.agent)
    v1, v2 = (str(prompt_version_id(DEFAULT_TENANT_ID, spec, profile, v)) for v in (1, 2))
    agent = executions.filter(pl.col("agent") == fault.agent)
    assert fault.ended_at.date() > spec.end_day
    assert set(agent.filter(_inside(fault))["prompt_version_id"]) == {v2}
    assert set(agent.filter(~_inside(fault))["prompt_version_id"]) == {v1}
    others = executions.filter(pl.col("agent") != fault.agent)["prompt_version_id"]
    assert v2 not in set(others)
    quality = agent.filter(pl.col("output").is_not_null()).select(
        _inside(fault).alias("inside"),
        pl.col("output").str.json_path_match("$.quality").cast(pl.Float64).alias("quality"),
    )
    means = quality.group_by("inside").agg(pl.col("quality").mean())
    assert means.filter(pl.col("inside"))["quality"].item() < (
        means.filter(~pl.col("inside"))["quality"].item() - 0.15
    )


def test_only_faults_some_agent_can_suffer_are_planned(spec: FleetSpec) -> None:
    classifier_only = dataclasses.replace(spec, profiles=(TICKET_CLASSIFIER,))
    assert [f.kind for f in planned_faults(classifier_only)] == ["prompt_regression"]
    assert planned_faults(dataclasses.replace(spec, faults=())) == ()
