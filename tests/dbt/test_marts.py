"""Every mart, built by `dbt build` over simulator data, equals the same numbers computed in
Python (tests/dbt/reference.py) from the raw rows: counts exactly, percentiles and rates to
1e-9, SLA verdicts exactly."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tests.dbt import reference
from tests.dbt.conftest import WINDOW, Warehouse

pytestmark = pytest.mark.integration

KEYS = {
    "agent_daily_metrics": ("tenant_id", "agent_id", "execution_date"),
    "agent_variant_daily_metrics": (
        "tenant_id", "agent_id", "execution_date", "prompt_version_id", "experiment_id",
        "experiment_variant",
    ),
    "agent_error_distribution": ("tenant_id", "agent_id", "execution_date", "error_type"),
    "cost_daily": ("tenant_id", "agent_id", "execution_date", "model_name"),
    "failure_events": ("execution_id",),
    "sla_daily_compliance": ("tenant_id", "agent_id", "execution_date"),
    "sla_period_compliance": ("tenant_id", "agent_id", "period_granularity", "period_start"),
}  # fmt: skip


def read_mart(conn: psycopg.Connection, mart: str) -> reference.Table:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql.SQL("select * from marts.{}").format(sql.Identifier(mart)))
        table = {tuple(row[column] for column in KEYS[mart]): row for row in rows}
        assert len(table) == cur.rowcount, f"{mart}: duplicate keys"
    return table


def same(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if isinstance(want, float) or isinstance(got, float):
        return math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-9)
    if isinstance(want, Decimal) or isinstance(got, Decimal):
        return Decimal(got) == Decimal(want)
    return bool(got == want)


@pytest.fixture(scope="module")
def expected(built: tuple[Warehouse, Any]) -> dict[str, reference.Table]:
    warehouse, _ = built
    with psycopg.connect(warehouse.db.owner_url) as conn:
        raw = reference.read_raw(conn, *WINDOW)
    daily = reference.agent_daily_metrics(raw)
    distribution = reference.agent_error_distribution(raw)
    sla_daily = reference.sla_daily_compliance(raw, daily, distribution)
    return {
        "agent_daily_metrics": daily,
        "agent_variant_daily_metrics": reference.agent_variant_daily_metrics(raw),
        "agent_error_distribution": distribution,
        "cost_daily": reference.cost_daily(raw),
        "failure_events": reference.failure_events(raw),
        "sla_daily_compliance": sla_daily,
        "sla_period_compliance": reference.sla_period_compliance(sla_daily),
    }


@pytest.fixture(scope="module")
def marts(built: tuple[Warehouse, Any]) -> dict[str, reference.Table]:
    warehouse, _ = built
    with psycopg.connect(warehouse.db.owner_url) as conn:
        return {mart: read_mart(conn, mart) for mart in KEYS}


def test_dbt_build_runs_every_model_data_test_and_unit_test_and_all_pass(built):
    _, result = built
    outcomes = Counter(
        (node.node.resource_type, str(node.status)) for node in result.result.results
    )
    assert {kind for kind, _ in outcomes} >= {"model", "seed", "test", "unit_test"}
    assert {status for _, status in outcomes} <= {"success", "pass"}, outcomes
    assert outcomes["unit_test", "pass"] >= 3


@pytest.mark.parametrize("mart", sorted(KEYS))
def test_the_mart_equals_the_python_reference(marts, expected, mart):
    got, want = marts[mart], expected[mart]
    assert want, f"the reference has no {mart} rows: the fixture data does not exercise it"
    assert sorted(got, key=str) == sorted(want, key=str)
    differences = [
        f"{key} {column}: mart {got[key][column]!r}, reference {value!r}"
        for key, row in want.items()
        for column, value in row.items()
        if not same(got[key][column], value)
    ]
    assert not differences, "\n".join(differences[:20])


def test_the_reference_data_reaches_every_branch_the_docs_describe(expected):
    """Guards the comparison above against passing on data that exercises nothing."""
    daily = expected["sla_daily_compliance"].values()
    assert {row["is_compliant"] for row in daily} == {True, False}
    assert {row["is_tenant_wide_sla"] for row in daily} == {True, False}
    assert {row["is_at_risk"] for row in daily} >= {True, False}
    assert len({row["primary_breached_metric"] for row in daily} - {None}) >= 2
    periods = expected["sla_period_compliance"].values()
    assert {row["breach_trend"] for row in periods} - {"no_previous_period"}
    categories = {row["cause_category"] for row in expected["agent_error_distribution"].values()}
    assert {"unknown", "tool_failure", "model_error"} <= categories
    errors = {key[3] for key in expected["agent_error_distribution"]}
    assert "unspecified" in errors
    events = expected["failure_events"].values()
    assert {row["failing_action_id"] is None for row in events} == {True, False}
    assert any(len(row["input_excerpt"] or "") == 1000 for row in events)


def test_an_sla_replaced_during_a_day_gives_way_to_its_replacement(built, marts):
    warehouse, _ = built
    with psycopg.connect(warehouse.db.owner_url) as conn:
        replaced, replacement = conn.execute(
            "select old.sla_definition_id, new.sla_definition_id from sla_definitions as old"
            " join sla_definitions as new on new.effective_from = old.effective_to"
            " and new.agent_id = old.agent_id"
        ).fetchone()
    judged_by = Counter(row["sla_definition_id"] for row in marts["sla_daily_compliance"].values())
    first, second, third = (WINDOW[0] + timedelta(days=offset) for offset in range(3))
    days = {
        definition: sorted(
            key[2] for key, row in marts["sla_daily_compliance"].items()
            if row["sla_definition_id"] == definition
        )
        for definition in (replaced, replacement)
    }  # fmt: skip
    assert days == {replaced: [first], replacement: [second, third]}
    assert judged_by[replaced] == 1
