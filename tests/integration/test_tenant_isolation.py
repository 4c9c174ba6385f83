"""As `meta_agent_app`, one tenant can neither see nor touch another's rows, in every table.

The tables come from the catalog, so a table added by a later migration is covered the day it
lands; `seed_tenant.sql` must give it a row, or the first test here says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

pytestmark = pytest.mark.integration

SEED = Path(__file__).with_name("seed_tenant.sql")


def tenant_tables(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """Every non-partition table that carries a tenant_id, as (schema, table)."""
    return conn.execute(
        """
        select n.nspname, c.relname from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where c.relkind in ('r', 'p') and not c.relispartition
          and n.nspname not in ('pg_catalog', 'information_schema')
        order by 1, 2
        """
    ).fetchall()


def _counts(conn: psycopg.Connection, tenant: uuid.UUID) -> dict[str, int]:
    counts = {}
    for schema, table in tenant_tables(conn):
        query = sql.SQL("select count(*) from {} where tenant_id = %s").format(
            sql.Identifier(schema, table)
        )
        row = conn.execute(query, (tenant,)).fetchone()
        assert row is not None
        counts[f"{schema}.{table}"] = row[0]
    return counts


@pytest.fixture(scope="module")
def tenants(migrated_database) -> Iterator[tuple[uuid.UUID, uuid.UUID]]:
    a, b = uuid.uuid4(), uuid.uuid4()
    script = SEED.read_text()
    with psycopg.connect(migrated_database.owner_url) as conn:
        for tenant in (a, b):
            conn.execute(script.replace(":tenant_id", f"'{tenant}'").encode())
    return a, b


def _refused(conn: psycopg.Connection, statement: sql.Composable, params: tuple) -> bool | int:
    """Run in a savepoint: True if refused by RLS or privileges, else the rows it touched."""
    try:
        with conn.transaction():
            return conn.execute(statement, params).rowcount
    except psycopg.errors.InsufficientPrivilege:
        return True


def _readable(conn: psycopg.Connection, table: str) -> bool:
    """Whether the connected role may select from `table` at all."""
    row = conn.execute("select has_table_privilege(%s, 'select')", (table,)).fetchone()
    return bool(row and row[0])


def test_the_seed_gives_every_tenant_table_rows_for_both_tenants(migrated_database, tenants):
    with psycopg.connect(migrated_database.owner_url) as conn:
        for tenant in tenants:
            empty = [table for table, n in _counts(conn, tenant).items() if n == 0]
            assert empty == [], f"add rows for these tables to {SEED.name}"


def _stored_columns(conn: psycopg.Connection, table: sql.Composable) -> list[str]:
    """The columns an insert may name: not generated, not dropped."""
    query = sql.SQL(
        "select attname from pg_attribute where attrelid = {}::regclass and attnum > 0"
        " and not attisdropped and attgenerated = '' order by attnum"
    ).format(sql.Literal(table.as_string(conn)))
    return [r[0] for r in conn.execute(query).fetchall()]


def test_tenant_a_cannot_see_update_delete_or_insert_tenant_b_rows(migrated_database, tenants):
    a, b = tenants
    with psycopg.connect(migrated_database.owner_url) as owner:
        before = {t: _counts(owner, t) for t in tenants}
        tables = tenant_tables(owner)
    leaks: list[str] = []
    with psycopg.connect(migrated_database.app_url) as conn, conn.transaction():
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(a),))
        for schema, table in tables:
            name = f"{schema}.{table}"
            target = sql.Identifier(schema, table)
            if not _readable(conn, name):
                continue  # a table the app role cannot read at all (archive_manifest)
            seen = conn.execute(
                sql.SQL("select count(*) filter (where tenant_id = %s), count(*) from {}").format(
                    target
                ),
                (b,),
            ).fetchone()
            if seen != (0, before[a][name]):
                leaks.append(f"{name}: sees {seen} instead of (0, {before[a][name]})")
            for verb, statement in {
                "update": sql.SQL("update {} set tenant_id = tenant_id where tenant_id = %s"),
                "delete": sql.SQL("delete from {} where tenant_id = %s"),
            }.items():
                outcome = _refused(conn, statement.format(target), (b,))
                if outcome not in (True, 0):
                    leaks.append(f"{name}: {verb} touched {outcome} of tenant B's rows")
            # a copy of one of A's own rows, relabelled as B's (generated columns are computed)
            columns = sql.SQL(", ").join(map(sql.Identifier, _stored_columns(conn, target)))
            insert = sql.SQL(
                "insert into {t} ({c}) select {c} from jsonb_populate_record(null::{t},"
                " (select to_jsonb(x) from {t} x limit 1)"
                " || jsonb_build_object('tenant_id', %s::uuid))"
                " where exists (select 1 from {t})"
            ).format(t=target, c=columns)
            if _refused(conn, insert, (str(b),)) is not True:
                leaks.append(f"{name}: an insert with tenant B's id was accepted")
    assert leaks == []
    with psycopg.connect(migrated_database.owner_url) as owner:
        assert {t: _counts(owner, t) for t in tenants} == before


def test_with_no_tenant_set_nothing_is_visible(migrated_database, tenants):
    with psycopg.connect(migrated_database.owner_url) as owner:
        tables = tenant_tables(owner)
    with psycopg.connect(migrated_database.app_url) as conn:
        visible = {}
        for schema, table in tables:
            if not _readable(conn, f"{schema}.{table}"):
                continue
            query = sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
            row = conn.execute(query).fetchone()
            assert row is not None
            if row[0]:
                visible[f"{schema}.{table}"] = row[0]
    assert visible == {}


def test_a_tenant_set_in_one_transaction_does_not_carry_into_the_next(migrated_database, tenants):
    a, _ = tenants
    with psycopg.connect(migrated_database.app_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("select set_config('app.tenant_id', %s, true)", (str(a),))
            assert conn.execute("select count(*) from agents").fetchone() != (0,)
        assert conn.execute("select count(*) from agents").fetchone() == (0,)
