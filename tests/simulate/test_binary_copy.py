"""The binary COPY encoding, read back by a decoder written from the Postgres documentation."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from meta_agent.simulate import FleetSpec, generate_chunk
from meta_agent.simulate.binary_copy import SIGNATURE, TRAILER, EncodedFrame, encode_binary
from meta_agent.simulate.catalogue import PM_ASSISTANT
from meta_agent.simulate.frames import PG_TYPES

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _value(pg_type: str, raw: bytes) -> Any:
    if pg_type == "uuid":
        return str(uuid.UUID(bytes=raw))
    if pg_type == "timestamptz":
        return _PG_EPOCH + timedelta(microseconds=int.from_bytes(raw, "big", signed=True))
    if pg_type == "float8":
        return struct.unpack(">d", raw)[0]
    if pg_type == "int4":
        return struct.unpack(">i", raw)[0]
    if pg_type == "numeric":
        ndigits, weight, sign, dscale = struct.unpack(">hhHh", raw[:8])
        digits = struct.unpack(f">{ndigits}h", raw[8:])
        value = sum(Decimal(d) * Decimal(10_000) ** (weight - i) for i, d in enumerate(digits))
        return (-value if sign == 0x4000 else value).quantize(Decimal(1).scaleb(-dscale))
    if pg_type == "jsonb":
        assert raw[0] == 1
        return raw[1:].decode()
    return raw.decode()


def decode(encoded: EncodedFrame) -> list[dict[str, Any]]:
    data, position, rows = bytes(encoded.rows), 0, []
    while position < len(data):
        (count,) = struct.unpack_from(">h", data, position)
        assert count == len(encoded.columns)
        position += 2
        row: dict[str, Any] = {}
        for name in encoded.columns:
            (length,) = struct.unpack_from(">i", data, position)
            position += 4
            if length == -1:
                row[name] = None
                continue
            row[name] = _value(PG_TYPES.get(name, "text"), data[position : position + length])
            position += length
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def chunk() -> tuple[pl.DataFrame, pl.DataFrame]:
    spec = FleetSpec(seed=2, end_day=date(2025, 3, 12), days=1, executions_per_day=3_000)
    generated = generate_chunk(spec, PM_ASSISTANT, spec.end_day)
    return generated.executions, generated.actions


@pytest.mark.parametrize("table", [0, 1])
def test_every_row_reads_back_as_the_frame_holds_it(
    chunk: tuple[pl.DataFrame, pl.DataFrame], table: int
) -> None:
    frame = chunk[table]
    encoded = encode_binary(frame, PG_TYPES)
    assert sorted(encoded.columns) == sorted(frame.columns)
    assert decode(encoded) == frame.select(encoded.columns).rows(named=True)


def test_nulls_mixed_with_values_keep_their_place() -> None:
    frame = pl.DataFrame(
        {
            "parent_action_id": [None, "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", None],
            "error_message": ["boom", None, ""],
            "output": [None, '{"quality":0.5}', "{}"],
            "sequence": pl.Series([1, None, 3], dtype=pl.Int32),
        }
    )
    rows = decode(encode_binary(frame, PG_TYPES))
    assert rows == frame.rows(named=True)


@pytest.mark.parametrize("value", ["0", "0.00000001", "0.12345678", "999999.99999999", "42"])
def test_numeric_values_survive_the_fixed_digit_layout(value: str) -> None:
    frame = pl.DataFrame({"cost_usd": pl.Series([Decimal(value)], dtype=pl.Decimal(14, 8))})
    assert decode(encode_binary(frame, PG_TYPES))[0]["cost_usd"] == Decimal(value)


def test_text_that_is_not_a_uuid_is_refused() -> None:
    frame = pl.DataFrame({"agent_id": ["not-a-uuid-at-all-but-36-characters!"]})
    with pytest.raises(ValueError, match="canonical uuid"):
        encode_binary(frame, PG_TYPES)


def test_the_stream_frame_is_postgres_binary_copy() -> None:
    assert SIGNATURE[:11] == b"PGCOPY\n\xff\r\n\x00"
    assert len(SIGNATURE) == 19
    assert struct.pack(">h", -1) == TRAILER
    empty = encode_binary(pl.DataFrame({"name": pl.Series([], dtype=pl.String)}), PG_TYPES)
    assert bytes(empty.rows) == b""
