"""The dbt project (one cached factory) and the dbt CLI resource pointed at the owner role."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from dbt.cli.main import dbtRunner

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


def dbt_resource(database_url: str) -> DbtCliResource:
    """dbt as the owner role of `database_url` (the batch pipeline bypasses RLS by design)."""
    os.environ.update(dbt_environment(database_url))
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(DBT_PROJECT_DIR),
        # the dbt installed beside this interpreter: the venv's bin need not be on PATH
        dbt_executable=str(Path(sys.executable).with_name("dbt")),
    )
