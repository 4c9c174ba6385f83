"""Polars frames encoded as PostgreSQL's binary COPY stream, column by column, without a
Python loop over rows.

A binary row is an int16 field count, then per field an int32 length (-1 for NULL) and the
value in the type's wire format. Columns whose every field has the same width in a frame
(non-null uuids, timestamps, numbers, constant-length text, all-NULL columns) are packed by
one numpy structured array; the others become Arrow binary pieces; Arrow's element-wise
binary join then lays every row out in one pass. The COPY statement names the columns in the
order they were packed, so the fixed part can lead each row whatever the table's order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # magic, flags, header extension length
TRAILER = b"\xff\xff"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, where Postgres counts timestamps from
_NO_SEPARATOR = pa.scalar(b"", pa.large_binary())
_FIXED_WIDTH = {"uuid": 16, "timestamptz": 8, "float8": 8, "int4": 4, "int8": 8, "numeric": 16}
_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16, dtype=np.uint8)
_UUID_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)], dtype=np.intp)


@dataclass(frozen=True)
class EncodedFrame:
    """The rows of a frame in binary COPY layout, and the column order they were packed in."""

    columns: tuple[str, ...]
    rows: memoryview


def _payload(series: pl.Series, pg_type: str) -> npt.NDArray[np.uint8]:
    """The wire form of every value of a fixed-width column as an (n, width) byte array
    (NULLs hold zeros: callers drop or ignore them)."""
    n = series.len()
    if pg_type == "uuid":
        return _uuid_bytes(series)
    if pg_type == "timestamptz":
        micros = series.dt.epoch("us").fill_null(_PG_EPOCH_US).to_numpy() - _PG_EPOCH_US
        return micros.astype(">i8").view(np.uint8).reshape(n, 8)
    if pg_type == "float8":
        return series.fill_null(0).to_numpy().astype(">f8").view(np.uint8).reshape(n, 8)
    if pg_type in ("int4", "int8"):
        kind = ">i4" if pg_type == "int4" else ">i8"
        return series.fill_null(0).to_numpy().astype(kind).view(np.uint8).reshape(n, -1)
    if pg_type == "numeric":
        return _numeric_bytes(series)
    raise ValueError(f"no fixed-width encoding for {pg_type}")


def _uuid_bytes(series: pl.Series) -> npt.NDArray[np.uint8]:
    text, present = _text_bytes(series)
    if text.data.size != 36 * int(present.sum()) or np.any(np.diff(text.offsets)[present] != 36):
        raise ValueError(f"column {series.name} holds text that is not a canonical uuid")
    digits = _HEX_VALUE[text.data.reshape(-1, 36)[:, _UUID_DIGITS]]
    if np.any(digits == 255):
        raise ValueError(f"column {series.name} holds text that is not a canonical uuid")
    out = np.zeros((series.len(), 16), dtype=np.uint8)
    out[present] = (digits[:, 0::2] << 4) | digits[:, 1::2]
    return out


def _numeric_bytes(series: pl.Series) -> npt.NDArray[np.uint8]:
    """numeric as ndigits=4, weight=1, sign, dscale and four base-10000 digits.

    Postgres strips the leading and trailing zero digits on receipt, so one fixed layout
    serves every value below 10**8 with up to eight decimals, which numeric(14, 8) is.
    """
    dtype = series.dtype
    if not isinstance(dtype, pl.Decimal) or dtype.scale > 8 or dtype.precision - dtype.scale > 8:
        raise ValueError(f"column {series.name}: only numeric(p, s) with p-s <= 8, s <= 8")
    scale = dtype.scale
    arrow = series.to_arrow()
    words = np.frombuffer(arrow.buffers()[1], dtype="<i8")
    units = words.reshape(-1, 2)[arrow.offset : arrow.offset + len(arrow), 0] * 10 ** (8 - scale)
    magnitude = np.abs(units)
    out = np.empty(series.len(), dtype=[("head", ">i2", (4,)), ("digit", ">i2", (4,))])
    out["head"] = (4, 1, 0, 8)
    out["head"][:, 2] = np.where(units < 0, 0x4000, 0)
    for i, power in enumerate((10**12, 10**8, 10**4, 1)):
        out["digit"][:, i] = (magnitude // power) % 10_000
    return out.view(np.uint8).reshape(-1, 16)


@dataclass(frozen=True)
class _Text:
    offsets: npt.NDArray[np.int64]
    data: npt.NDArray[np.uint8]
    arrow: pa.Array


def _text_bytes(series: pl.Series) -> tuple[_Text, npt.NDArray[np.bool_]]:
    arrow = pc.cast(series.to_arrow(), pa.large_binary())
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    _, offsets_buffer, data_buffer = arrow.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        arrow.offset : arrow.offset + len(arrow) + 1
    ]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.zeros(0, np.uint8)
    present = ~series.is_null().to_numpy()
    return _Text(offsets, data[offsets[0] : offsets[-1]], arrow), present


def _binary_array(lengths: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> pa.Array:
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))]
    return pa.Array.from_buffers(pa.large_binary(), lengths.size, buffers)


def _header(
    lengths: npt.NDArray[np.int64], present: npt.NDArray[np.bool_], jsonb: bool
) -> pa.Array:
    """Per row: the field length (-1 for NULL), then jsonb's version byte when there is a value."""
    width = 5 if jsonb else 4
    head = np.zeros((lengths.size, width), dtype=np.uint8)
    head[:, :4] = np.where(present, lengths + jsonb, -1).astype(">i4").view(np.uint8).reshape(-1, 4)
    head[:, 4:] = 1
    keep = np.ones_like(head, dtype=bool)
    keep[~present, 4:] = False
    return _binary_array(np.where(present, width, 4).astype(np.int64), head[keep])


def encode_binary(frame: pl.DataFrame, pg_types: Mapping[str, str]) -> EncodedFrame:
    """The frame's rows as binary COPY data (without SIGNATURE and TRAILER)."""
    n = frame.height
    if not n:
        return EncodedFrame(tuple(frame.columns), memoryview(b""))
    fixed: list[tuple[str, np.dtype, np.ndarray | int]] = []
    pieces: list[pa.Array] = []
    fixed_names: list[str] = []
    varying_names: list[str] = []
    for name in frame.columns:
        series, pg_type = frame[name], pg_types.get(name, "text")
        nulls = series.null_count()
        if nulls == n:
            fixed.append((f"h{name}", np.dtype(">i4"), -1))
            fixed_names.append(name)
        elif pg_type in _FIXED_WIDTH:
            payload = _payload(series, pg_type)
            width = payload.shape[1]
            if nulls:
                present = ~series.is_null().to_numpy()
                lengths = np.full(n, width, dtype=np.int64)
                head = _header(lengths, present, jsonb=False)
                values = _binary_array(np.where(present, width, 0), payload[present].reshape(-1))
                pieces += [head, values]
                varying_names.append(name)
            else:
                fixed += [
                    (f"h{name}", np.dtype(">i4"), width),
                    (name, np.dtype((np.uint8, width)), payload),
                ]
                fixed_names.append(name)
        else:
            text, present = _text_bytes(series)
            lengths = np.diff(text.offsets)
            jsonb = pg_type == "jsonb"
            if not nulls and lengths.size and np.all(lengths == lengths[0]):
                width = int(lengths[0])
                head_width = width + jsonb
                fixed.append((f"h{name}", np.dtype(">i4"), head_width))
                if jsonb:
                    fixed.append((f"v{name}", np.dtype(np.uint8), 1))
                fixed.append((name, np.dtype((np.uint8, width)), text.data.reshape(n, width)))
                fixed_names.append(name)
            else:
                filled = pc.fill_null(text.arrow, pa.scalar(b"", pa.large_binary()))
                pieces += [_header(lengths, present, jsonb), filled]
                varying_names.append(name)
    layout = np.dtype([("count", ">i2")] + [(field, dtype) for field, dtype, _ in fixed])
    packed = np.empty(n, dtype=layout)
    packed["count"] = len(frame.columns)
    for field, _, values in fixed:
        packed[field] = values
    prefix = packed.view(np.uint8).reshape(-1)
    if not pieces:
        return EncodedFrame((*fixed_names,), memoryview(prefix.tobytes()))
    lead = _binary_array(np.full(n, layout.itemsize, dtype=np.int64), prefix)
    joined = pc.binary_join_element_wise(lead, *pieces, _NO_SEPARATOR)
    _, offsets_buffer, data_buffer = joined.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)
    rows = memoryview(data_buffer)[offsets[0] : offsets[n]]
    return EncodedFrame((*fixed_names, *varying_names), rows)
