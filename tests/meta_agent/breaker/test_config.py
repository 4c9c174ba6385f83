"""A breaker's config: the table's defaults, and every bad value named in one error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from meta_agent.breaker import BreakerConfig, BreakerConfigError, BreakerKey, WindowKind


def test_the_defaults_are_the_tables_defaults(
    owner_conn: psycopg.Connection, make_agent: Callable[..., BreakerKey]
) -> None:
    key = make_agent()
    with owner_conn.cursor(row_factory=dict_row) as cursor:
        row = cursor.execute(
            "insert into circuit_breaker_configs (tenant_id, agent_id) values (%s, %s) returning *",
            (key.tenant_id, key.agent_id),
        ).fetchone()
    assert BreakerConfig.from_row(row) == BreakerConfig()
    assert BreakerConfig.from_row(None) == BreakerConfig()


def test_values_from_json_or_the_database_are_normalised() -> None:
    config = BreakerConfig.from_row(
        {"window_kind": "time", "failure_rate_threshold": 1, "backoff_multiplier": 3, "x": 0}
    )
    assert config.window_kind is WindowKind.TIME
    assert isinstance(config.failure_rate_threshold, float)
    assert isinstance(config.backoff_multiplier, float)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"window_kind": "sliding"}, ["window_kind"]),
        ({"window_size": 0}, ["window_size"]),
        ({"window_size": 10_001}, ["window_size"]),
        ({"window_kind": "time", "window_size": 3_601}, ["window_size"]),
        ({"window_size": 10, "min_calls": 11}, ["min_calls (11)"]),
        ({"failure_rate_threshold": 0.0}, ["failure_rate_threshold"]),
        ({"slow_call_rate_threshold": float("nan")}, ["slow_call_rate_threshold"]),
        ({"consecutive_failures_threshold": 0}, ["consecutive_failures_threshold"]),
        ({"open_duration_ms": 1_000, "max_open_duration_ms": 999}, ["max_open_duration_ms"]),
        ({"backoff_multiplier": 0.5}, ["backoff_multiplier"]),
        ({"half_open_permitted_probes": 101}, ["half_open_permitted_probes"]),
        ({"half_open_deadline_ms": True}, ["half_open_deadline_ms"]),
        ({"min_calls": 0, "open_duration_ms": -1}, ["min_calls", "open_duration_ms"]),
    ],
)
def test_a_bad_config_is_refused_naming_every_problem(
    values: dict[str, Any], named: list[str]
) -> None:
    with pytest.raises(BreakerConfigError) as refused:
        BreakerConfig(**values)
    for name in named:
        assert name in str(refused.value)


def test_the_open_duration_grows_by_the_multiplier_up_to_the_cap() -> None:
    config = BreakerConfig(
        open_duration_ms=1_000, backoff_multiplier=1.5, max_open_duration_ms=3_000
    )
    assert [config.open_duration_for(n) for n in range(1, 6)] == [1_000, 1_500, 2_250, 3_000, 3_000]
    assert BreakerConfig(backoff_multiplier=1).open_duration_for(50) == 30_000
