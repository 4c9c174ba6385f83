"""Apply the numbered plain-SQL files in `migrations/`, in order, each in its own transaction.

Each applied file is recorded with a SHA-256 of its text; a file that changed after it was
applied is refused, because the database no longer matches what the file says. We keep this
runner small instead of taking yoyo or pyway: yoyo records no checksum of a file's content and
pyway drives psycopg2; what we need is ~100 lines on the driver we already use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from meta_agent.embedded import APP_ROLE
from meta_agent.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# any constant works; it only has to be the same for every migrator of this database
_ADVISORY_LOCK = 0x6D657461  # "meta"

# The ledger has no tenant: it describes the schema, which all tenants share.
_LEDGER = """
create table if not exists public.schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    applied_by text not null default current_user
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files, checked for names and unique numbers, in order."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations share number {version:04d}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def migrate(
    url: str,
    *,
    directory: Path = MIGRATIONS_DIR,
    app_password: str | None = None,
    on_applied: Callable[[Migration], None] | None = None,
) -> list[Migration]:
    """Bring the database at `url` up to date; return the migrations applied now."""
    migrations = discover(directory)
    applied_now: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        # one migrator at a time; a second one waits, then finds nothing to do
        conn.execute("select pg_advisory_lock(%s)", (_ADVISORY_LOCK,))
        try:
            conn.execute(_LEDGER)
            recorded = {
                row[0]: (row[1], row[2])
                for row in conn.execute("select version, name, checksum from schema_migrations")
            }
            _check_ledger(migrations, recorded)
            for migration in migrations:
                if migration.version in recorded:
                    continue
                _apply(conn, migration)
                applied_now.append(migration)
                if on_applied is not None:
                    on_applied(migration)
            if app_password:
                conn.execute(
                    sql.SQL("alter role {} password {}").format(
                        sql.Identifier(APP_ROLE), sql.Literal(app_password)
                    )
                )
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_ADVISORY_LOCK,))
    return applied_now


def _check_ledger(migrations: list[Migration], recorded: dict[int, tuple[str, str]]) -> None:
    on_disk = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(recorded.items()):
        migration = on_disk.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{name}, which this code does not have"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {migration.path.name} changed after it was applied "
                f"(checksum {checksum[:12]} in the database, {migration.checksum[:12]} on disk); "
                "add a new migration instead of editing an applied one"
            )


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(migration.text.encode())
            conn.execute(
                "insert into schema_migrations (version, name, checksum) values (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MigrationError(f"migration {migration.path.name} failed: {first_line}") from None


def pending(url: str, *, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations on disk that the database has not applied."""
    with psycopg.connect(url) as conn:
        exists = conn.execute("select to_regclass('public.schema_migrations')").fetchone()
        done: set[int] = set()
        if exists and exists[0] is not None:
            done = {row[0] for row in conn.execute("select version from schema_migrations")}
    return [m for m in discover(directory) if m.version not in done]
