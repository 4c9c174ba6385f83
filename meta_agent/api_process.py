"""The API (`python -m meta_agent api`) and the realtime worker (`python -m realtime`) as child
processes, for the demo, and for tests and benchmarks that must kill them like a crash would
or measure them over a real socket."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL to the process group (a server's workers too)."""
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM and up to 15 s for a graceful shutdown, then SIGKILL."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            _kill(process)


@dataclass
class ApiProcess:
    """One API server process that can be killed and restarted on the same port."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meta_agent",
                "api",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a kill takes its workers too
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited with status {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the API did not start")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as in a crash."""
        _kill(self.process)

    def stop(self) -> None:
        _stop(self.process)


@dataclass
class RealtimeProcess:
    """One realtime worker process (`python -m realtime`) on the servers `env` names."""

    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def start(self, redis_url: str, timeout_s: float = 30) -> None:
        import redis

        from meta_agent.stream import EXECUTIONS_STREAM

        self.process = subprocess.Popen(
            [sys.executable, "-m", "realtime"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        with redis.Redis.from_url(redis_url) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"realtime exited with status {self.process.returncode}")
                # ready once the group exists: entries added from then on reach the worker,
                # however long it takes to make its first read
                with contextlib.suppress(redis.ResponseError):  # no stream yet
                    groups = client.xinfo_groups(EXECUTIONS_STREAM)
                    if {g["name"] for g in groups} & {b"realtime", "realtime"}:
                        return
                time.sleep(0.05)
        raise RuntimeError("the realtime worker did not start")

    def stop(self) -> None:
        _stop(self.process)
