"""The dbt project (one cached factory), the dbt CLI resource pointed at the owner role, and
the owner role's connection for observing the tables dbt reads."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import psycopg
from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource, DbtProject
from dbt.cli.main import dbtRunner
from dbt.version import __version__ as dbt_core_version
from packaging import version

from meta_agent.dbt_target import DBT_PROJECT_DIR, dbt_environment


@cache
def dbt_project() -> DbtProject:
    """The project, with a parsed manifest: Dagster reads the model graph from it."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if _stale(project):
        # `dbt parse` renders the profile but connects nowhere; any host will do for it
        for name, value in dbt_environment("postgresql://meta_agent@localhost/meta_agent").items():
            os.environ.setdefault(name, value)
        result = dbtRunner().invoke(
            [
                "parse",
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--quiet",
            ]
        )
        if not result.success:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
    return project


def _stale(project: DbtProject) -> bool:
    """No manifest, or a project file newer than it."""
    if not project.manifest_path.exists():
        return True
    parsed_at = project.manifest_path.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        sources.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    return any(path.stat().st_mtime > parsed_at for path in sources if path.is_file())


class WarehouseDbt(DbtCliResource):
    """dagster-dbt's resource without two start-up costs it pays on every run, ~5–10 s of a
    day's build on a 2-core machine (dagster-dbt 0.29, pinned in pyproject.toml):

    - `dbt --version` in a subprocess, to learn the version of the dbt beside this
      interpreter, which is the dbt-core imported here (the same venv);
    - an in-process dbt adapter with the project's macros loaded, used only to fetch column
      metadata and row counts after a build, which these assets do not ask for.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_core_version)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None


def dbt_resource(database_url: str) -> DbtCliResource:
    """dbt as the owner role of `database_url` (the batch pipeline bypasses RLS by design)."""
    os.environ.update(dbt_environment(database_url))
    return WarehouseDbt(
        # DbtCliResource.__init__ takes a DbtProject; mypy's pydantic plugin sees only the field
        project_dir=dbt_project(),  # type: ignore[arg-type]
        profiles_dir=str(DBT_PROJECT_DIR),
        # the dbt installed beside this interpreter: the venv's bin need not be on PATH
        dbt_executable=str(Path(sys.executable).with_name("dbt")),
    )


class WarehouseDatabase(ConfigurableResource):  # type: ignore[type-arg]
    """The owner role's connection, for observing the source tables dbt reads."""

    url: str

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True)
