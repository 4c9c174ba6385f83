"""What an archived file holds: the columns of raw.executions and raw.actions, version 1.

Column types in Parquet (and so in DuckDB):
- uuid → string (canonical lower-case text), so a file reads the same in any tool;
- timestamptz → timestamp[us, UTC] (Postgres keeps microseconds, so nothing is rounded);
- jsonb → string with the JSON logical type (`pa.json_()`; DuckDB reads it as JSON), the text
  Postgres prints for the jsonb value;
- numeric(14, 8) → decimal128(14, 8); double precision → float64; integer → int32; text → string.
Columns that are NOT NULL in Postgres are required in Parquet.

The checksum is the same computation on both sides: each full row is rendered as one canonical
string (per column `<byte length>:<text>`, or `N` for NULL, so no two rows render alike), its
MD5's first 8 bytes are read as a signed 64-bit integer, and the integers are summed. A sum
does not depend on row order, so Postgres (`pg_checksum_sql`) and the file
(`arrow_row_texts`) can be compared without sorting millions of rows.

A change to the raw tables' columns must add a schema version here: `check_columns` refuses to
archive a table whose columns differ from the version's, because a column missing from the
file would be dropped with the partition without ever having been archived.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
from psycopg import sql

SCHEMA_VERSION = 1
Kind = Literal["uuid", "text", "int", "float", "numeric", "timestamptz", "jsonb"]
TABLES = ("executions", "actions")
_COST_SCALE = 8  # numeric(14, 8)

_PG_TYPES: dict[Kind, str] = {
    "uuid": "uuid",
    "text": "text",
    "int": "integer",
    "float": "double precision",
    "numeric": f"numeric(14,{_COST_SCALE})",
    "timestamptz": "timestamp with time zone",
    "jsonb": "jsonb",
}
_ARROW_TYPES: dict[Kind, pa.DataType] = {
    "uuid": pa.string(),
    "text": pa.string(),
    "int": pa.int32(),
    "float": pa.float64(),
    "numeric": pa.decimal128(14, _COST_SCALE),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "jsonb": pa.json_(pa.string()),
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = True


def _columns(spec: str) -> tuple[Column, ...]:
    """`name kind [not null]`, one a line: the table reads like its DDL."""
    columns = []
    for line in spec.strip().splitlines():
        name, kind, *rest = line.split()
        columns.append(Column(name, kind, nullable=not rest))  # type: ignore[arg-type]
    return tuple(columns)


COLUMNS: dict[str, tuple[Column, ...]] = {
    "executions": _columns("""
        execution_id uuid not null
        tenant_id uuid not null
        agent_id uuid not null
        started_at timestamptz not null
        ended_at timestamptz
        duration_ms float
        status text not null
        session_id text
        parent_execution_id uuid
        trace_id text
        prompt_version_id uuid
        experiment_id uuid
        variant text
        model text
        input_tokens int not null
        output_tokens int not null
        cost_usd numeric not null
        error_type text
        error_message text
        input jsonb
        output jsonb
        metadata jsonb not null
        sdk_version text
        ingested_at timestamptz not null
    """),
    "actions": _columns("""
        action_id uuid not null
        tenant_id uuid not null
        execution_id uuid not null
        parent_action_id uuid
        agent_id uuid not null
        sequence int not null
        action_type text not null
        name text not null
        started_at timestamptz not null
        ended_at timestamptz
        duration_ms float
        status text not null
        model text
        input_tokens int not null
        output_tokens int not null
        cost_usd numeric not null
        error_type text
        error_message text
        input jsonb
        output jsonb
        attributes jsonb not null
        ingested_at timestamptz not null
    """),
}
PRIMARY_KEYS = {"executions": "execution_id", "actions": "action_id"}


def arrow_schema(table: str) -> pa.Schema:
    """The Parquet schema of a table's files, with the schema version in its metadata."""
    fields = [pa.field(c.name, _ARROW_TYPES[c.kind], c.nullable) for c in COLUMNS[table]]
    return pa.schema(fields, metadata={"meta_agent.schema_version": str(SCHEMA_VERSION)})


def check_columns(table: str, catalog: list[tuple[str, str, bool]]) -> None:
    """Raise if raw.<table>'s (name, type, nullable) columns are not this version's."""
    expected = [(c.name, _PG_TYPES[c.kind], c.nullable) for c in COLUMNS[table]]
    if sorted(catalog) != sorted(expected):
        missing = sorted({c[0] for c in catalog} ^ {c[0] for c in expected}) or "types"
        raise SchemaMismatchError(
            f"raw.{table} no longer has the columns of archive schema version {SCHEMA_VERSION}"
            f" (differs in {missing}); add a schema version in meta_agent/archive/schema.py"
        )


class SchemaMismatchError(Exception):
    pass


# --- Postgres side ---------------------------------------------------------------------------


def _epoch_us(column: sql.Composable) -> sql.Composed:
    # extract(epoch …) is numeric since Postgres 14: exact to the microsecond
    return sql.SQL("(extract(epoch from {}) * 1000000)::bigint").format(column)


def _export_expr(column: Column) -> sql.Composable:
    ident = sql.Identifier(column.name)
    if column.kind == "timestamptz":
        return _epoch_us(ident)
    if column.kind in ("uuid", "jsonb"):
        return sql.SQL("{}::text").format(ident)
    return ident


def export_sql(table: str) -> sql.Composed:
    """A `copy … to stdout` of one tenant's rows of one day, as CSV that `csv_read_types` reads.

    Parameters: tenant_id, first instant, end instant (half-open).
    """
    select = sql.SQL(", ").join(
        sql.SQL("{} as {}").format(_export_expr(c), sql.Identifier(c.name)) for c in COLUMNS[table]
    )
    return sql.SQL(
        "copy (select {} from {} where tenant_id = %s and started_at >= %s and started_at < %s)"
        " to stdout (format csv)"
    ).format(select, sql.Identifier("raw", table))


def csv_read_types(table: str) -> dict[str, pa.DataType]:
    """How the exported CSV is parsed; `to_archive_batch` then casts to the file's types."""
    read: dict[Kind, pa.DataType] = {"timestamptz": pa.int64(), "jsonb": pa.string()}
    return {c.name: read.get(c.kind, _ARROW_TYPES[c.kind]) for c in COLUMNS[table]}


def to_archive_batch(table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch parsed from the CSV export, in the archive's types."""
    arrays = []
    for column, array in zip(COLUMNS[table], batch.columns, strict=True):
        if column.kind == "timestamptz":
            array = pc.cast(array, _ARROW_TYPES["timestamptz"])
        elif column.kind == "jsonb":
            array = pa.ExtensionArray.from_storage(pa.json_(pa.string()), array)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema(table))


def _canonical_pg(column: Column) -> sql.Composable:
    ident = sql.Identifier(column.name)
    text: sql.Composable
    if column.kind == "text":
        text = ident
    elif column.kind == "float":
        # the IEEE 754 bits as a signed integer: exact, and what Arrow sees viewing as int64
        text = sql.SQL("(('x' || encode(float8send({}), 'hex'))::bit(64)::bigint)::text").format(
            ident
        )
    elif column.kind == "numeric":
        text = sql.SQL("({} * {})::bigint::text").format(ident, sql.Literal(10**_COST_SCALE))
    elif column.kind == "timestamptz":
        text = sql.SQL("{}::text").format(_epoch_us(ident))
    else:
        text = sql.SQL("{}::text").format(ident)
    return sql.SQL("coalesce(octet_length({t})::text || ':' || {t}, 'N')").format(t=text)


def pg_digest_sql(table: str) -> sql.Composed:
    """Per tenant: count(*) and the row checksum of raw.<table>'s rows in a range.

    Parameters: first instant, end instant (half-open), an array of tenant ids.
    """
    row = sql.SQL(" || ").join(_canonical_pg(c) for c in COLUMNS[table])
    return sql.SQL(
        "select tenant_id, count(*), sum(('x' || left(md5({}), 16))::bit(64)::bigint::numeric)"
        "::text from {} where started_at >= %s and started_at < %s and tenant_id = any(%s)"
        " group by tenant_id"
    ).format(row, sql.Identifier("raw", table))


# --- Arrow side ------------------------------------------------------------------------------


def _canonical_arrow(column: Column, array: pa.Array) -> pa.Array:
    if column.kind == "float":
        text = pc.cast(array.view(pa.int64()), pa.string())
    elif column.kind == "numeric":
        factor = pa.scalar(Decimal(10**_COST_SCALE), pa.decimal128(_COST_SCALE + 1, 0))
        text = pc.cast(pc.cast(pc.multiply(array, factor), pa.int64()), pa.string())
    elif column.kind == "timestamptz":
        text = pc.cast(pc.cast(array, pa.int64()), pa.string())
    elif column.kind == "jsonb":
        text = array.storage if isinstance(array, pa.ExtensionArray) else array
    else:
        text = pc.cast(array, pa.string())
    length = pc.cast(pc.binary_length(text), pa.string())
    return pc.fill_null(pc.binary_join_element_wise(length, text, ":"), "N")


def arrow_row_texts(table: str, batch: pa.RecordBatch) -> pa.Array:
    """Each row of a batch in the archive's types, rendered as `_canonical_pg` renders it."""
    fields = [_canonical_arrow(column, batch.column(column.name)) for column in COLUMNS[table]]
    return pc.binary_join_element_wise(*fields, "")
