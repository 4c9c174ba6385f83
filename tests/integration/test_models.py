"""The table models match the live catalog, and real rows validate into them.

Tables, columns and nullability come from pg_catalog, not from a hand-kept list, so a new
table or column without a model (or a model that drifted) fails here. Rows come from
seed_tenant.sql, run for two tenants inside one transaction that is rolled back afterwards,
so the shared migrated database stays empty.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from meta_agent.models import (
    TABLE_MODELS,
    ApiKey,
    ExecutionEmbedding,
    Integration,
    TableModel,
)

if TYPE_CHECKING:
    # imported for the annotation only: pytest would try to collect a Test* class
    from tests.conftest import TestDatabase

pytestmark = pytest.mark.integration

Row = dict[str, Any]
Seeded = tuple[psycopg.Connection[Row], list[str]]

SEED = Path(__file__).with_name("seed_tenant.sql").read_text(encoding="utf-8")

# parents only: a raw partition is the same table as its parent, one day of it
TABLES = """
select format('%s.%s', n.nspname, c.relname) as name,
       exists (
           select from pg_attribute a
           where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
       ) as has_tenant
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and not c.relispartition and n.nspname in ('public', 'raw')
order by 1
"""

COLUMNS = """
select a.attname, not a.attnotnull as nullable, a.atthasdef as has_default,
       format_type(a.atttypid, a.atttypmod) as sql_type
from pg_attribute a
where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped
order by a.attnum
"""


@pytest.fixture(scope="module")
def seeded(migrated_database: TestDatabase) -> Iterator[Seeded]:
    """An owner connection in a transaction holding the seed of two tenants; rolled back."""
    tenants = [str(uuid.uuid4()), str(uuid.uuid4())]
    conn = psycopg.connect(migrated_database.owner_url, row_factory=dict_row)
    try:
        for tenant_id in tenants:
            conn.execute(SEED.replace(":tenant_id", f"'{tenant_id}'").encode())
        # check the deferred foreign keys now, as a commit would
        conn.execute("set constraints all immediate")
        yield conn, tenants
    finally:
        conn.rollback()
        conn.close()


def _columns(conn: psycopg.Connection[Row], table: str) -> list[Row]:
    return conn.execute(COLUMNS, (table,)).fetchall()


def _accepts_none(field: FieldInfo) -> bool:
    assert field.annotation is not None
    try:
        TypeAdapter(field.annotation).validate_python(None)
    except ValidationError:
        return False
    return True


def _tenant_tables(conn: psycopg.Connection[Row]) -> list[str]:
    return [row["name"] for row in conn.execute(TABLES).fetchall() if row["has_tenant"]]


def _rows(conn: psycopg.Connection[Row], table: str, tenants: list[str]) -> list[Row]:
    schema, name = table.split(".")
    query = sql.SQL("select * from {} where tenant_id = any(%s::uuid[])").format(
        sql.Identifier(schema, name)
    )
    return conn.execute(query, (tenants,)).fetchall()


def test_every_tenant_table_has_a_model_and_every_model_names_a_table(seeded: Seeded) -> None:
    conn, _ = seeded
    tenant_tables = _tenant_tables(conn)
    every_table = {row["name"] for row in conn.execute(TABLES).fetchall()}
    assert len(tenant_tables) > 30
    assert [t for t in tenant_tables if t not in TABLE_MODELS] == []
    assert [t for t in TABLE_MODELS if t not in every_table] == []
    assert all(model.__table__ == table for table, model in TABLE_MODELS.items())


@pytest.mark.parametrize("table", sorted(TABLE_MODELS))
def test_field_names_are_the_column_names(seeded: Seeded, table: str) -> None:
    conn, _ = seeded
    columns = {c["attname"] for c in _columns(conn, table)}
    assert set(TABLE_MODELS[table].model_fields) == columns


@pytest.mark.parametrize("table", sorted(TABLE_MODELS))
def test_a_field_accepts_none_exactly_when_its_column_is_nullable(
    seeded: Seeded, table: str
) -> None:
    conn, _ = seeded
    fields = TABLE_MODELS[table].model_fields
    nullable = {c["attname"]: c["nullable"] for c in _columns(conn, table)}
    assert {name: _accepts_none(field) for name, field in fields.items()} == nullable


@pytest.mark.parametrize("table", sorted(TABLE_MODELS))
def test_only_columns_with_a_default_or_null_have_a_python_default(
    seeded: Seeded, table: str
) -> None:
    conn, _ = seeded
    columns = {c["attname"]: c for c in _columns(conn, table)}
    invented = [
        name
        for name, field in TABLE_MODELS[table].model_fields.items()
        if not field.is_required()
        and not (columns[name]["has_default"] or columns[name]["nullable"])
    ]
    assert invented == []


def test_the_seed_fills_every_tenant_table_for_each_tenant(seeded: Seeded) -> None:
    conn, tenants = seeded
    tables = _tenant_tables(conn)
    empty = [
        (table, tenant)
        for table in tables
        for tenant in tenants
        if not _rows(conn, table, [tenant])
    ]
    assert empty == []


@pytest.mark.parametrize("table", sorted(TABLE_MODELS))
def test_seeded_rows_validate_into_their_model(seeded: Seeded, table: str) -> None:
    conn, tenants = seeded
    model: type[TableModel] = TABLE_MODELS[table]
    # without pgvector's adapter a vector reads as its text form, which is a JSON array
    vectors = {c["attname"] for c in _columns(conn, table) if c["sql_type"] == "vector(384)"}
    rows = _rows(conn, table, tenants)
    assert {str(row["tenant_id"]) for row in rows} == set(tenants)
    for row in rows:
        instance = model.model_validate(row)
        # nothing was coerced on the way in: the model gives back what the database holds
        expected = {k: json.loads(v) if k in vectors and v else v for k, v in row.items()}
        assert instance.model_dump() == expected


def test_vectors_validate_from_pgvector_numpy_arrays_too(seeded: Seeded) -> None:
    conn, tenants = seeded
    row = _rows(conn, "public.execution_embeddings", tenants)[0]
    as_text = ExecutionEmbedding.model_validate(row)
    as_array = np.asarray(json.loads(row["embedding"]), dtype=np.float32)
    from_numpy = ExecutionEmbedding.model_validate({**row, "embedding": as_array})
    assert np.allclose(from_numpy.embedding, as_text.embedding)


def test_key_hashes_and_secret_ciphertext_stay_out_of_repr(seeded: Seeded) -> None:
    conn, tenants = seeded
    key = ApiKey.model_validate(_rows(conn, "public.api_keys", tenants)[0])
    integration = Integration.model_validate(_rows(conn, "public.integrations", tenants)[0])
    assert "key_hash" not in repr(key)
    assert integration.secret_ciphertext is not None
    assert "secret_ciphertext" not in repr(integration)
    assert repr(integration.secret_ciphertext) not in repr(integration)
