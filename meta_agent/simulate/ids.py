"""Identifiers of simulated rows: UUIDv7 built for whole arrays at once, and stable uuid5 names.

Execution and action ids follow the layout the SDK uses (RFC 9562 UUIDv7: 48-bit Unix
milliseconds, version 7, variant 10, random bits), so the simulated rows are time-ordered like
real ones and land at the right edge of the primary-key index during a bulk load.
"""

from __future__ import annotations

import uuid

import numpy as np
import numpy.typing as npt
import polars as pl

# Everything the simulator names (agents, prompt versions, faults) lives under this namespace,
# so the same seed and tenant always give the same ids and a reload is idempotent.
SIMULATION_NAMESPACE = uuid.UUID("6f1c3d2e-9a57-4c1b-8e0d-5b7f3a2c9e41")

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# ASCII pair for every byte value, so encoding is one gather instead of shifts per nibble
_HEX_PAIRS = np.stack([_HEX_DIGITS[np.arange(256) >> 4], _HEX_DIGITS[np.arange(256) & 15]], axis=1)
# Where each of the 32 hex digits sits in the canonical 8-4-4-4-12 form
_DIGIT_COLUMNS = np.array(
    [i for i in range(36) if i not in (8, 13, 18, 23)],
    dtype=np.intp,
)
_DASH_COLUMNS = np.array([8, 13, 18, 23], dtype=np.intp)


def stable_uuid(*parts: object) -> uuid.UUID:
    """A uuid5 that depends only on `parts`, for rows that must be the same on every load."""
    return uuid.uuid5(SIMULATION_NAMESPACE, "/".join(str(part) for part in parts))


def uuid7_bytes(
    started_us: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    """One UUIDv7 per timestamp (microseconds since the epoch), as an (n, 16) byte array."""
    n = started_us.shape[0]
    millis = (started_us // 1000).astype(np.uint64)
    random_bits = rng.integers(
        0, np.iinfo(np.int64).max, size=(n, 2), dtype=np.int64, endpoint=True
    )
    rand_a = random_bits[:, 0].astype(np.uint64) & np.uint64(0x0FFF)
    rand_b = random_bits[:, 1].astype(np.uint64) & np.uint64(0x3FFF_FFFF_FFFF_FFFF)
    words = np.empty((n, 2), dtype=">u8")
    words[:, 0] = (millis << np.uint64(16)) | np.uint64(0x7000) | rand_a
    words[:, 1] = np.uint64(0x8000_0000_0000_0000) | rand_b
    return words.view(np.uint8).reshape(n, 16)


def _ascii_series(name: str, text: npt.NDArray[np.uint8]) -> pl.Series:
    width = text.shape[1]
    # one fixed-width bytes item per row; polars reads that as binary without a Python loop
    fixed = np.ascontiguousarray(text).view(f"S{width}").reshape(-1)
    return pl.Series(name, fixed).cast(pl.String)


def uuid_strings(name: str, raw: npt.NDArray[np.uint8]) -> pl.Series:
    """The canonical text form of (n, 16) uuid bytes, as a polars String column."""
    text = np.empty((raw.shape[0], 36), dtype=np.uint8)
    text[:, _DIGIT_COLUMNS] = _HEX_PAIRS[raw].reshape(raw.shape[0], 32)
    text[:, _DASH_COLUMNS] = ord("-")
    return _ascii_series(name, text)


def hex_strings(name: str, raw: npt.NDArray[np.uint8]) -> pl.Series:
    """Lower-case hex of each row of bytes (a W3C trace id for 16 bytes)."""
    return _ascii_series(name, _HEX_PAIRS[raw].reshape(raw.shape[0], raw.shape[1] * 2))
