"""`meta_agent aggregate`: a day or a range of days rebuilt through Dagster as one run; wrong
arguments are refused in one line before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.dagster_project.conftest import FLEET, Simulated

pytestmark = pytest.mark.integration


def _cli(*args: str, database_url: str, home: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")}
    environ.update(METAAGENT_HOME=str(home), METAAGENT_DATABASE_URL=database_url)
    return subprocess.run(
        [sys.executable, "-m", "meta_agent", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_aggregate_rebuilds_a_range_of_days_in_one_run(simulated: Simulated, tmp_path: Path):
    first, last = FLEET.day_list[0], FLEET.day_list[-1]
    done = _cli(
        "aggregate", "--from", first.isoformat(), "--to", last.isoformat(),
        database_url=simulated.db.owner_url, home=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{first} to {last}: ok:" in done.stdout
    with psycopg.connect(simulated.db.owner_url) as conn:
        days = conn.execute(
            "select distinct execution_date from marts.agent_daily_metrics order by 1"
        ).fetchall()
    assert [day for (day,) in days] == list(FLEET.day_list)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["aggregate"], "give --date D, or --from D1 --to D2"),
        (["aggregate", "--date", "2026-11-20", "--from", "2026-11-19"], "give --date D"),
        (["aggregate", "--from", "2026-11-20", "--to", "2026-11-19"], "is before --from"),
        (["aggregate", "--date", "2026-02-30"], "--date takes a date as YYYY-MM-DD"),
        (["full-cycle", "--date", "yesterday"], "--date takes a date as YYYY-MM-DD"),
    ],
)
def test_wrong_days_are_refused_in_one_line(
    args: list[str], message: str, migrated_database, tmp_path: Path
):
    done = _cli(*args, database_url=migrated_database.owner_url, home=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {done.stderr.strip()[7:]}"]
    assert message in done.stderr
