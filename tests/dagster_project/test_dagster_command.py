"""`python -m meta_agent dagster`: the webserver and the daemon come up on the project's
Postgres (their storage in its `dagster` database), and a SIGTERM stops them and everything
they started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from dagster_project.instance import dagster_database_url
from meta_agent.api_process import free_port

pytestmark = pytest.mark.integration

# a cold start imports Dagster and dbt and parses the dbt project, in two processes at once
READY_WITHIN_S = 300
# runs (run_storage), event logs (event_log_storage), schedules and sensors (schedule_storage)
STORAGE_TABLES = {"runs", "event_logs", "jobs", "job_ticks", "instigators"}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_webserver_and_daemon_serve_from_postgres_and_stop_on_sigterm(
    migrated_database: Any, tmp_path: Path
):
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")}
    environ.update(
        METAAGENT_HOME=str(tmp_path / "home"),
        METAAGENT_DATABASE_URL=migrated_database.owner_url,
    )
    command = subprocess.Popen(
        [sys.executable, "-m", "meta_agent", "dagster", "--port", str(port)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert command.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(command.stdout or ()), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_WITHIN_S
        # the command says where it serves once the webserver answers
        while not (_answers(f"{url}/server_info") and any(url in line for line in lines)):
            assert command.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "the webserver did not answer"
            time.sleep(1)
        assert any(f"Dagster UI on {url}" in line for line in lines)

        with psycopg.connect(dagster_database_url(migrated_database.owner_url)) as conn:
            tables = {
                row[0]
                for row in conn.execute(
                    "select tablename from pg_tables where schemaname = 'public'"
                )
            }
        assert tables >= STORAGE_TABLES
        assert (tmp_path / "home" / "dagster" / "dagster.yaml").exists()

        started = psutil.Process(command.pid).children(recursive=True)
        commands = [" ".join(process.cmdline()) for process in started]
        assert any("dagster-webserver" in c for c in commands), commands
        assert any("dagster-daemon" in c for c in commands), commands

        command.send_signal(signal.SIGTERM)
        command.wait(timeout=90)
        reader.join(timeout=10)
        output = "".join(lines)
        assert command.returncode == 0, output
        assert "stopped the Dagster webserver and daemon" in output
        _, alive = psutil.wait_procs(started, timeout=10)
        assert alive == []
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
