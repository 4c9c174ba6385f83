"""A small fleet generated once per test session, and the raw-log schema read from 0002."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from meta_agent.simulate import FleetSpec, PlannedFault, generate, planned_faults
from meta_agent.simulate.fleet import DEFAULT_TENANT_ID, agent_id

MIGRATION = Path(__file__).parents[2] / "migrations" / "0002_tenants_agents_raw.sql"
# a week with a weekend, enough traffic for every fault window to hold dozens of executions
SPEC = FleetSpec(seed=11, end_day=date(2025, 3, 16), days=7, executions_per_day=8_000)


def table_body(table: str) -> str:
    text = MIGRATION.read_text()
    start = text.index(f"create table {table} (")
    return text[start : text.index(") partition by", start)]


def table_columns(table: str) -> list[str]:
    types = r"(?:uuid|text|timestamptz|double precision|integer|numeric|jsonb)\b"
    return re.findall(rf"^\s+([a-z_]+) {types}", table_body(table), flags=re.MULTILINE)


def allowed_values(table: str, column: str) -> set[str]:
    found = re.search(rf"check \(\s*{column} in \(([^)]*)\)", table_body(table), flags=re.DOTALL)
    assert found, f"no check on {table}.{column}"
    return set(re.findall(r"'([^']*)'", found.group(1)))


@pytest.fixture(scope="session")
def spec() -> FleetSpec:
    return SPEC


@pytest.fixture(scope="session")
def fleet(spec: FleetSpec) -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate(spec)


@pytest.fixture(scope="session")
def executions(fleet: tuple[pl.DataFrame, pl.DataFrame], spec: FleetSpec) -> pl.DataFrame:
    names = pl.DataFrame(
        {
            "agent_id": [str(agent_id(DEFAULT_TENANT_ID, spec, p)) for p in spec.profiles],
            "agent": [p.name for p in spec.profiles],
        }
    )
    return fleet[0].join(names, on="agent_id", how="left")


@pytest.fixture(scope="session")
def actions(fleet: tuple[pl.DataFrame, pl.DataFrame]) -> pl.DataFrame:
    return fleet[1]


@pytest.fixture(scope="session")
def faults(spec: FleetSpec) -> tuple[PlannedFault, ...]:
    return planned_faults(spec)
