"""The window comes from the Dagster partition as vars; a malformed one fails the run before
any SQL runs, with a message that names the var."""

from __future__ import annotations

import pytest

from tests.dbt.runner import DbtTarget, run_dbt

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"start_date": "yesterday"}, "var start_date must be a date as YYYY-MM-DD"),
        ({"end_date": "2025-02-30"}, "var end_date must be a date as YYYY-MM-DD"),
        (
            {"start_date": "2025-03-17", "end_date": "2025-03-17"},
            "var end_date (2025-03-17) must be after start_date (2025-03-17)",
        ),
    ],
)
def test_a_malformed_window_is_refused_with_the_var_named(tmp_path, variables, message):
    # parsing needs no database: the window is checked when the models' configs render
    target = DbtTarget(tmp_path, "unused")
    result = run_dbt(target, "parse", target_path=tmp_path, variables=variables, check=False)
    assert not result.success
    assert message in str(result.exception)


def test_a_well_formed_window_parses(tmp_path):
    target = DbtTarget(tmp_path, "unused")
    variables = {"start_date": "2024-02-28", "end_date": "2024-03-01"}
    assert run_dbt(target, "parse", target_path=tmp_path, variables=variables).success
