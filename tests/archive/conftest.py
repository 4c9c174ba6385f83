"""A migrated database of its own per test (retention drops partitions), and raw rows to archive.

Rows come from a small simulated fleet plus hand-made ones holding what the simulator never
writes: NULLs next to empty strings, text CSV must quote (commas, quotes, newlines,
backslashes), non-ASCII text, nested jsonb, doubles that print long, the largest cost, and
executions whose actions cross midnight.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from meta_agent import migrations, tenants
from meta_agent.simulate import default_fleet, load_fleet
from tests.conftest import TestDatabase

DAY = date(2025, 3, 10)


def at(day: date, hours: float = 0.0) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hours)


@dataclass(frozen=True)
class RawDatabase:
    db: TestDatabase
    archive: Path

    @property
    def url(self) -> str:
        return self.db.owner_url

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True)


@pytest.fixture
def raw_db(fresh_database: TestDatabase, tmp_path: Path) -> RawDatabase:
    migrations.migrate(fresh_database.owner_url)
    return RawDatabase(fresh_database, tmp_path / "archive root")


def create_tenant(conn: psycopg.Connection, name: str, retention_days: int | None) -> uuid.UUID:
    tenant = tenants.create_tenant(conn, name)
    if retention_days is not None:
        conn.execute(
            "update tenants set retention_days = %s where tenant_id = %s", (retention_days, tenant)
        )
    return tenant


def ensure_partitions(conn: psycopg.Connection, first: date, last: date) -> None:
    for parent in ("raw.executions", "raw.actions"):
        conn.execute(
            "select app.ensure_daily_partitions(%s::regclass, %s, %s)", (parent, first, last)
        )


def load_small_fleet(
    conn: psycopg.Connection, tenant: uuid.UUID, *, last_day: date, days: int, seed: int = 5
) -> None:
    """Execution ids follow from the seed alone: give each tenant its own."""
    spec = default_fleet(seed=seed, days=days, executions_per_day=40, end_day=last_day)
    load_fleet(conn, tenant_id=tenant, spec=spec)


def insert_execution(
    conn: psycopg.Connection, tenant: uuid.UUID, started: datetime, **values: object
) -> uuid.UUID:
    execution_id = uuid.uuid4()
    row: dict[str, object] = {
        "execution_id": execution_id,
        "tenant_id": tenant,
        "agent_id": values.pop("agent_id", uuid.uuid4()),
        "started_at": started,
        "status": "success",
        **values,
    }
    columns = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    conn.execute(f"insert into raw.executions ({columns}) values ({marks})", tuple(row.values()))
    return execution_id


def insert_action(
    conn: psycopg.Connection,
    tenant: uuid.UUID,
    execution_id: uuid.UUID,
    started: datetime,
    **values: object,
) -> uuid.UUID:
    action_id = uuid.uuid4()
    row: dict[str, object] = {
        "action_id": action_id,
        "tenant_id": tenant,
        "execution_id": execution_id,
        "agent_id": values.pop("agent_id", uuid.uuid4()),
        "action_type": "tool_call",
        "name": "tool",
        "started_at": started,
        "status": "success",
        **values,
    }
    columns = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    conn.execute(f"insert into raw.actions ({columns}) values ({marks})", tuple(row.values()))
    return action_id


AWKWARD_TEXT = 'a, "quoted"\nsecond line \\ back\\slash; tab\t; ünïcødé ✓ 日本'


def insert_edge_cases(
    conn: psycopg.Connection, tenant: uuid.UUID, day: date
) -> dict[str, uuid.UUID]:
    """Rows with every awkward value, on `day`; one execution crosses into the next day."""
    ensure_partitions(conn, day, day + timedelta(days=1))
    agent = uuid.uuid4()
    full = insert_execution(
        conn, tenant, at(day, 9.5), agent_id=agent,
        ended_at=at(day, 9.5) + timedelta(microseconds=123_457), duration_ms=123.457,
        status="failure", session_id="", parent_execution_id=uuid.uuid4(), trace_id=AWKWARD_TEXT,
        prompt_version_id=uuid.uuid4(), experiment_id=uuid.uuid4(), variant="b", model="gpt-4o",
        input_tokens=2_147_483_647, output_tokens=0, cost_usd=Decimal("999999.99999999"),
        error_type="ToolError", error_message=AWKWARD_TEXT,
        input='{"prompt": "line\\nbreak \\"q\\" ✓", "n": [1, 2.5, null, {"deep": true}]}',
        output='"just a string"', metadata='{"k": ""}', sdk_version="0.1.0",
    )  # fmt: skip
    bare = insert_execution(
        conn, tenant, at(day, 10), agent_id=agent, status="running", duration_ms=None,
        cost_usd=Decimal("0"), input=None, output="null",
    )  # fmt: skip
    insert_execution(
        conn, tenant, at(day, 11), agent_id=agent, duration_ms=0.1 + 0.2, ended_at=at(day, 11),
        cost_usd=Decimal("0.00000001"), input="{}", error_message="",
    )  # fmt: skip
    insert_execution(
        conn, tenant, at(day, 12), agent_id=agent, duration_ms=1e-300, ended_at=at(day, 12),
        output="[]",
    )  # fmt: skip
    crossing = insert_execution(
        conn, tenant, at(day, 24) - timedelta(seconds=3), agent_id=agent, duration_ms=6_000.0,
        ended_at=at(day, 24) + timedelta(seconds=3),
    )  # fmt: skip
    insert_action(
        conn, tenant, full, at(day, 9.5), agent_id=agent, parent_action_id=uuid.uuid4(),
        sequence=3, action_type="llm_inference", name=AWKWARD_TEXT, ended_at=at(day, 9.6),
        duration_ms=360_000.0, status="timeout", model="claude", input_tokens=5,
        output_tokens=7, cost_usd=Decimal("0.12345678"), error_type="Timeout",
        error_message=AWKWARD_TEXT, input='{"a": 1}', output="[1]", attributes='{"x": [1]}',
    )  # fmt: skip
    insert_action(conn, tenant, bare, at(day, 10), agent_id=agent, name="")
    before = insert_action(
        conn, tenant, crossing, at(day, 24) - timedelta(seconds=2), agent_id=agent
    )
    after = insert_action(
        conn, tenant, crossing, at(day, 24) + timedelta(seconds=1), agent_id=agent, sequence=1
    )
    return {"crossing": crossing, "action_before_midnight": before, "action_after_midnight": after}


def raw_rows(
    conn: psycopg.Connection, table: str, where: str = "true", params: tuple = ()
) -> list[tuple]:
    """Full rows as Python values, uuid and jsonb as text, ordered by primary key.

    The select list is read from the catalog, not from meta_agent.archive, so a column the
    archive forgot would show up here.
    """
    columns = columns_of(conn, table)
    select = ", ".join(
        f"{name}::text" if kind in ("uuid", "jsonb") else name for name, kind in columns
    )
    return conn.execute(
        f"select {select} from raw.{table} where {where} order by 1", params
    ).fetchall()


def columns_of(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select attname, format_type(atttypid, null) from pg_attribute"
        " where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum",
        (f"raw.{table}",),
    ).fetchall()


def partitions(conn: psycopg.Connection, table: str) -> set[date]:
    names = conn.execute(
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid"
        " where i.inhparent = %s::regclass",
        (f"raw.{table}",),
    ).fetchall()
    return {datetime.strptime(name.rsplit("_", 1)[1], "%Y%m%d").date() for (name,) in names}


def day_filter(first: date, last: date) -> tuple[str, tuple]:
    return "started_at >= %s and started_at < %s", (at(first), at(last + timedelta(days=1)))
