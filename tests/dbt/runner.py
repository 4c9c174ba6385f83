"""Run the dbt project in-process, the way dagster-dbt will: `dbtRunner` with the project and
profiles directories of the repository and the DBT_PG_* environment the profile reads."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dbt.cli.main import dbtRunner, dbtRunnerResult

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt"


@dataclass(frozen=True)
class DbtTarget:
    """Where dbt connects: the server's socket directory, the owner role, one database."""

    socket_dir: Path
    database: str
    user: str = "meta_agent"
    port: int = 5432

    def environment(self) -> dict[str, str]:
        return {
            "DBT_PG_HOST": str(self.socket_dir),
            "DBT_PG_PORT": str(self.port),
            "DBT_PG_USER": self.user,
            "DBT_PG_PASSWORD": "",
            "DBT_PG_DATABASE": self.database,
        }


class DbtRunError(RuntimeError):
    """dbt finished with an error; the message lists the failed nodes."""


def window_vars(start: date | None = None, end: date | None = None) -> dict[str, str]:
    """The vars of a run over [start, end): the shape the Dagster partition will produce."""
    found = {"start_date": start, "end_date": end}
    return {name: day.isoformat() for name, day in found.items() if day is not None}


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_dbt(
    target: DbtTarget,
    command: str,
    *args: str,
    target_path: Path,
    variables: Mapping[str, str] | None = None,
    select: Sequence[str] = (),
    check: bool = True,
) -> dbtRunnerResult:
    """`dbt <command>` against `target`; raise DbtRunError unless it succeeded (or not `check`)."""
    cli = [
        command,
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(target_path),
        "--log-path", str(target_path / "logs"),
        "--quiet",
        *args,
    ]  # fmt: skip
    if variables:
        cli += ["--vars", json.dumps(dict(variables))]
    if select:
        cli += ["--select", *select]
    with _environment(target.environment()):
        result = dbtRunner().invoke(cli)
    if check and not result.success:
        raise DbtRunError(_describe_failure(command, result))
    return result


def _describe_failure(command: str, result: dbtRunnerResult) -> str:
    if result.exception is not None:
        return f"dbt {command} raised {result.exception!r}"
    failed = [
        f"{node.node.unique_id}: {node.status} {node.message or ''}".strip()
        for node in getattr(result.result, "results", None) or ()
        if str(node.status) not in {"success", "pass", "skipped"}
    ]
    return f"dbt {command} failed:\n" + "\n".join(failed)
