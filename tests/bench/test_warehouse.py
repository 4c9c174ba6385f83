"""bench.warehouse materialises the warehouse asset outside the definitions, with resources of
its own: it must provide every one the asset asks for (it once ran for weeks without `postgres`,
and failed before timing anything)."""

from __future__ import annotations

from bench.warehouse import warehouse_resources
from dagster_project.warehouse.assets import warehouse_models


def test_the_benchmark_provides_every_resource_the_warehouse_asset_needs():
    provided = warehouse_resources("postgresql://meta_agent@/meta_agent?host=%2Frun")
    needed = warehouse_models.required_resource_keys - {"io_manager"}  # Dagster's default
    assert needed <= set(provided)
