"""Embedded servers: start or reuse per home, survive crashes, serialise concurrent starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis

from meta_agent.embedded import EmbeddedServers

pytestmark = pytest.mark.integration


def _cli(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("METAAGENT_")}
    environ["METAAGENT_HOME"] = str(home)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "meta_agent", *args],
        env=environ, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _answers(servers: EmbeddedServers) -> bool:
    with psycopg.connect(servers.postgres.url()) as conn:
        conn.execute("select 1")
    return bool(redis.Redis.from_url(servers.redis.url()).ping())


@pytest.fixture
def home(tmp_path: Path):
    path = tmp_path / "a home with spaces"
    yield path
    EmbeddedServers(path).down()


def test_up_twice_reuses_the_running_servers(home: Path):
    servers = EmbeddedServers(home)
    servers.up()
    pids = [s.pid for s in servers.status()]
    servers.up()
    assert [s.pid for s in servers.status()] == pids
    assert _answers(servers)


def test_a_crash_leaves_stale_pid_files_that_the_next_start_ignores(home: Path):
    servers = EmbeddedServers(home)
    servers.up()
    for status in servers.status():
        assert status.pid is not None
        os.kill(status.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(s.running for s in servers.status()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (home / "postgres" / "postmaster.pid").exists()
    servers.up()
    assert all(s.running for s in servers.status())
    assert _answers(servers)


def test_two_commands_starting_at_once_get_one_pair_of_servers(home: Path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "meta_agent", "up"],
            env={**os.environ, "METAAGENT_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert len({out for out, _ in outputs}) == 1
    postgres = subprocess.run(
        ["pgrep", "-f", f"postgres -D {home}"], capture_output=True, text=True, check=False
    )
    assert len(postgres.stdout.split()) == 1


def test_the_cli_starts_reports_and_stops_the_servers(home: Path):
    started = _cli(home, "up")
    assert started.returncode == 0, started.stderr
    assert "postgresql://meta_agent@/meta_agent?host=" in started.stdout
    running = _cli(home, "status")
    assert running.stdout.count("running") == 2
    stopped = _cli(home, "down")
    assert "stopped: redis, postgres" in stopped.stdout
    assert _cli(home, "status").stdout.count("stopped") == 2


def test_an_unwritable_home_is_a_one_line_error_and_creates_nothing(tmp_path: Path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a directory")
    result = _cli(blocker / "home", "up")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"error: home directory {blocker / 'home'} is not writable: Not a directory"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"METAAGENT_DATABASE_URL": "postgresql://u:pw@127.0.0.1:9/x"},
            "error: database at postgresql://127.0.0.1:9/x does not answer",
        ),
        (
            {"METAAGENT_REDIS_URL": "redis://127.0.0.1:9/0"},
            "error: Redis at redis://127.0.0.1:9/0 does not answer",
        ),
        ({"METAAGENT_LOG_LEVL": "debug"}, "error: unknown setting METAAGENT_LOG_LEVL"),
    ],
)
def test_servers_that_do_not_answer_fail_before_anything_is_started(tmp_path: Path, env, message):
    home = tmp_path / "home"
    result = _cli(home, "up", env=env)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(message)
    assert "pw@" not in result.stderr
    assert not (home / "postgres").exists()
