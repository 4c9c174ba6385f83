"""Column names and types of the frames the simulator produces: those of raw.executions and
raw.actions in migration 0002, minus `ingested_at`, which the database stamps itself.

uuid columns are canonical text, jsonb columns are JSON text, timestamptz is a UTC datetime,
numeric(14, 8) is Decimal(14, 8): each maps to its column without loss, and CSV written from
the frame is what COPY reads.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

_UTC_US = pl.Datetime("us", "UTC")
_COST = pl.Decimal(14, 8)

EXECUTION_SCHEMA: dict[str, pl.DataType] = {
    "execution_id": pl.String(),
    "tenant_id": pl.String(),
    "agent_id": pl.String(),
    "started_at": _UTC_US,
    "ended_at": _UTC_US,
    "duration_ms": pl.Float64(),
    "status": pl.String(),
    "session_id": pl.String(),
    "parent_execution_id": pl.String(),
    "trace_id": pl.String(),
    "prompt_version_id": pl.String(),
    "experiment_id": pl.String(),
    "variant": pl.String(),
    "model": pl.String(),
    "input_tokens": pl.Int32(),
    "output_tokens": pl.Int32(),
    "cost_usd": _COST,
    "error_type": pl.String(),
    "error_message": pl.String(),
    "input": pl.String(),
    "output": pl.String(),
    "metadata": pl.String(),
    "sdk_version": pl.String(),
}

ACTION_SCHEMA: dict[str, pl.DataType] = {
    "action_id": pl.String(),
    "tenant_id": pl.String(),
    "execution_id": pl.String(),
    "parent_action_id": pl.String(),
    "agent_id": pl.String(),
    "sequence": pl.Int32(),
    "action_type": pl.String(),
    "name": pl.String(),
    "started_at": _UTC_US,
    "ended_at": _UTC_US,
    "duration_ms": pl.Float64(),
    "status": pl.String(),
    "model": pl.String(),
    "input_tokens": pl.Int32(),
    "output_tokens": pl.Int32(),
    "cost_usd": _COST,
    "error_type": pl.String(),
    "error_message": pl.String(),
    "input": pl.String(),
    "output": pl.String(),
    "attributes": pl.String(),
}

# The Postgres type of every column, for a binary COPY of rows built elsewhere (benchmarks).
PG_TYPES: dict[str, str] = {
    "execution_id": "uuid", "tenant_id": "uuid", "agent_id": "uuid", "action_id": "uuid",
    "parent_action_id": "uuid", "parent_execution_id": "uuid", "prompt_version_id": "uuid",
    "experiment_id": "uuid", "started_at": "timestamptz", "ended_at": "timestamptz",
    "duration_ms": "float8", "input_tokens": "int4", "output_tokens": "int4", "sequence": "int4",
    "cost_usd": "numeric", "input": "jsonb", "output": "jsonb", "metadata": "jsonb",
    "attributes": "jsonb",
}  # fmt: skip


def pg_type(column: str) -> str:
    return PG_TYPES.get(column, "text")


def timestamps(name: str, micros: npt.NDArray[np.int64]) -> pl.Series:
    return pl.Series(name, micros).cast(_UTC_US)


def costs(name: str, units: npt.NDArray[np.int64]) -> pl.Series:
    # float64 carries the 14 significant digits of numeric(14, 8) exactly, and polars rounds
    # to the nearest decimal on the cast, so whole 1e-8 units survive the trip unchanged
    return pl.Series(name, units / 1e8).cast(_COST)


def constant(name: str, value: str | None, n: int) -> pl.Series:
    return pl.repeat(value, n, dtype=pl.String, eager=True).alias(name)


def durations_ms(name: str, start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]) -> pl.Series:
    return pl.Series(name, (end - start) / 1000.0)


class Vocabulary:
    """Text values of a chunk as small integer codes; -1 stands for NULL."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self._codes: dict[str, int] = {}

    def code(self, word: str | None) -> int:
        if word is None:
            return -1
        if word not in self._codes:
            self._codes[word] = len(self.words)
            self.words.append(word)
        return self._codes[word]

    def column(self, name: str, codes: npt.NDArray[np.integer]) -> pl.Series:
        labels = pl.Series(name, [*self.words, None], dtype=pl.String)
        return labels.gather(np.where(codes < 0, len(self.words), codes))
