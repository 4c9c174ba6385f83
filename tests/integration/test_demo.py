"""`make demo`'s main job end to end in a fresh home: servers, tenant, fleet, summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from meta_agent.embedded import EmbeddedServers

pytestmark = pytest.mark.integration


# the simulated fleet's, without those of the outage's agent (as many as it had time for)
_FLEET_EXECUTIONS = (
    "select count(*) from raw.executions e join agents a using (tenant_id, agent_id)"
    " where a.name <> 'invoice-bot'"
)


def _demo(home: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")}
    environ["METAAGENT_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "meta_agent", "demo", "--days", "3", "--executions-per-day", "600"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_demo_loads_a_fleet_and_prints_a_summary_and_a_second_run_adds_nothing(tmp_path: Path):
    home = tmp_path / "demo home"
    try:
        first = _demo(home)
        assert first.returncode == 0, first.stderr
        for expected in ("tenant: demo", "Fleet history by agent", "Injected faults", "ma_"):
            assert expected in first.stdout
        # the live part: simulated agents through the SDK and the API, all of it stored
        assert "live: 4 agents logged 200 executions" in first.stdout
        assert "200 executions stored" in " ".join(first.stdout.split())
        for step in ("breaker  closed → open", "SDK refuses invoice-bot", "half_open → closed"):
            assert step in first.stdout, step
        servers = EmbeddedServers(home)
        with psycopg.connect(servers.postgres.url()) as conn:
            loaded = conn.execute(_FLEET_EXECUTIONS).fetchone()
            keys = conn.execute("select count(*) from api_keys").fetchone()
        assert loaded is not None
        assert loaded[0] > 1000

        second = _demo(home)
        assert second.returncode == 0, second.stderr
        assert "loaded 0 executions" in second.stdout
        with psycopg.connect(servers.postgres.url()) as conn:
            # the history is not loaded twice; only the live agents add their 200 executions
            assert conn.execute(_FLEET_EXECUTIONS).fetchone() == (loaded[0] + 200,)
            # each run issues a fresh key for the same tenant
            again = conn.execute("select count(*) from api_keys").fetchone()
        assert keys is not None
        assert again == (keys[0] + 1,)
    finally:
        EmbeddedServers(home).down()
