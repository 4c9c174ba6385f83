"""Tenant isolation, read from the catalog rather than from a hand-kept list of tables."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

pytestmark = pytest.mark.integration

TENANT_TABLES = """
select format('%I.%I', n.nspname, c.relname), c.relrowsecurity, c.relforcerowsecurity,
       (select count(*) from pg_policy p where p.polrelid = c.oid)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
order by 1
"""


def _with_partitions(owner_url: str) -> None:
    with psycopg.connect(owner_url) as conn:
        today = dt.date(2026, 1, 1)
        for parent in ("raw.executions", "raw.actions"):
            conn.execute(
                "select app.ensure_daily_partitions(%s::regclass, %s, %s)",
                (parent, today, today + dt.timedelta(days=1)),
            )


def test_every_table_with_a_tenant_has_rls_enabled_forced_and_a_policy(migrated_database):
    _with_partitions(migrated_database.owner_url)
    with psycopg.connect(migrated_database.owner_url) as conn:
        rows = conn.execute(TENANT_TABLES).fetchall()
    assert len(rows) > 30  # the operational schema and the raw partitions
    assert any(name.startswith("raw.executions_2026") for name, *_ in rows)
    unguarded = [
        name for name, enabled, forced, policies in rows if not (enabled and forced and policies)
    ]
    assert unguarded == []


def test_every_table_without_a_tenant_says_why(migrated_database):
    with psycopg.connect(migrated_database.owner_url) as conn:
        rows = conn.execute(
            """
            select format('%I.%I', n.nspname, c.relname), obj_description(c.oid, 'pg_class')
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where c.relkind in ('r', 'p') and n.nspname in ('public', 'app', 'raw')
              and not exists (select 1 from pg_attribute a
                              where a.attrelid = c.oid and a.attname = 'tenant_id')
            """
        ).fetchall()
    assert [name for name, _ in rows] == ["public.schema_migrations"]


def test_the_app_role_cannot_bypass_rls_and_owns_nothing(migrated_database):
    with psycopg.connect(migrated_database.owner_url) as conn:
        role = conn.execute(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb"
            " from pg_roles where rolname = 'meta_agent_app'"
        ).fetchone()
        owned = conn.execute(
            """
            select 'relation ' || relname from pg_class where relowner = 'meta_agent_app'::regrole
            union all select 'schema ' || nspname from pg_namespace where nspowner = 'meta_agent_app'::regrole
            union all select 'function ' || proname from pg_proc where proowner = 'meta_agent_app'::regrole
            union all select 'type ' || typname from pg_type where typowner = 'meta_agent_app'::regrole
            """
        ).fetchall()
    assert role == (False, False, False, False)
    assert owned == []


def test_the_app_role_has_no_grant_on_partitions_and_reads_through_parents(migrated_database):
    _with_partitions(migrated_database.owner_url)
    with psycopg.connect(migrated_database.owner_url) as conn:
        grants = conn.execute(
            """
            select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'raw' and c.relispartition
              and has_table_privilege('meta_agent_app', c.oid, 'select,insert,update,delete')
            """
        ).fetchall()
    assert grants == []
