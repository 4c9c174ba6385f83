"""`meta_agent dagster`: the Dagster webserver and daemon as child processes of one command.

Each child gets a process group of its own: Ctrl-C in a terminal reaches only the command,
which then stops the children in order (SIGTERM, a grace period, then SIGKILL for whatever
is left of each group: the code servers and run workers they started).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from meta_agent.errors import MetaAgentError

WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"
CODE_LOCATION = "dagster_project.definitions"


def _venv_bin(name: str) -> str:
    """The console script installed beside this interpreter: the venv need not be on PATH."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise MetaAgentError(f"{name} is not installed beside {sys.executable}: run `make setup`")
    return str(path)


def _code_location() -> list[str]:
    if WORKSPACE.exists():
        return ["-w", str(WORKSPACE)]
    return ["-m", CODE_LOCATION]  # an installed package without the repository's workspace


@dataclass
class DagsterProcesses:
    """The webserver (UI and GraphQL on host:port) and the daemon (schedules, sensors, run
    queue, backfills) of one Dagster home."""

    environment: dict[str, str]
    host: str
    port: int
    log_dir: Path
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def log_file(self, name: str) -> Path:
        # not in DAGSTER_HOME/logs: Dagster empties that folder
        return self.log_dir / f"dagster-{name}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        commands = {
            "webserver": [
                _venv_bin("dagster-webserver"),
                "--host", self.host, "--port", str(self.port), *_code_location(),
            ],
            "daemon": [_venv_bin("dagster-daemon"), "run", *_code_location()],
        }  # fmt: skip
        try:
            for name, command in commands.items():
                with self.log_file(name).open("ab") as log:
                    self.children[name] = subprocess.Popen(
                        command,
                        env=self.environment,
                        cwd=WORKSPACE.parent,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
        except BaseException:
            self.stop()
            raise

    def exited(self) -> str | None:
        """The name of a child that has exited, if any."""
        for name, child in self.children.items():
            if child.poll() is not None:
                return name
        return None

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/server_info", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def serve(
        self, stop: threading.Event, on_ready: Callable[[], None], ready_timeout_s: float = 300
    ) -> None:
        """Run until `stop` is set; a child that exits on its own is an error naming its log.
        Stops the children on the way out, whatever happened."""
        try:
            self.start()
            deadline = time.monotonic() + ready_timeout_s
            ready = False
            while not stop.wait(0.5):
                dead = self.exited()
                if dead is not None:
                    raise MetaAgentError(f"dagster {dead} exited; see {self.log_file(dead)}")
                if not ready and self.answers():
                    ready = True
                    on_ready()
                if not ready and time.monotonic() > deadline:
                    raise MetaAgentError(
                        f"the Dagster webserver did not answer within {ready_timeout_s:.0f} s;"
                        f" see {self.log_file('webserver')}"
                    )
        finally:
            self.stop()

    def stop(self, grace_s: float = 20) -> None:
        """SIGTERM to both, then SIGKILL to whatever is left of their process groups."""
        descendants = {name: self._descendants(child) for name, child in self.children.items()}
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self.children.values():
            with suppress(subprocess.TimeoutExpired):
                child.wait(max(0.1, deadline - time.monotonic()))
        for name, child in self.children.items():
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)  # the group outlives its leader
            if child.poll() is None:
                child.kill()
            child.wait()
            for process in descendants[name]:
                with suppress(psutil.NoSuchProcess):
                    process.kill()
        self.children.clear()

    @staticmethod
    def _descendants(child: subprocess.Popen[bytes]) -> list[psutil.Process]:
        try:
            return psutil.Process(child.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
