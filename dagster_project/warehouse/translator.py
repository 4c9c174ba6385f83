"""All dbt → Dagster mapping in one place: keys, groups and descriptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


class WarehouseTranslator(DagsterDbtTranslator):
    """Sources keep their schema as prefix (`raw/executions`); models are keyed by layer
    (`staging/…`, `intermediate/…`, `marts/…`) and grouped the same way in the UI.

    dbt's data tests become asset checks of the models they test; the sources' keys are
    those of the observable source assets (`assets.py`), so lineage starts at the raw tables."""

    def __init__(self, settings: DagsterDbtTranslatorSettings | None = None) -> None:
        super().__init__(settings or DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([self._layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        return self._layer(dbt_resource_props)

    @staticmethod
    def _layer(props: Mapping[str, Any]) -> str:
        fqn = props.get("fqn") or []
        return str(fqn[1]) if len(fqn) > 2 else "warehouse"
