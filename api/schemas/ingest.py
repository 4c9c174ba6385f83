"""The ingest request and response (see docs/ingest-protocol.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import ReadModel


class IngestBatch(BaseModel):
    """Items are validated one by one, so a bad item rejects only itself."""

    model_config = ConfigDict(extra="ignore")

    # kept a plain object, so the schema has no $defs to resolve inside the OpenAPI document
    sdk: dict[str, Any] | None = Field(
        default=None, examples=[{"name": "metaagent-sdk", "version": "0.1.0"}]
    )
    executions: list[dict[str, Any]] = Field(default_factory=list)
    actions: list[dict[str, Any]] = Field(default_factory=list)


class Counts(ReadModel):
    executions: int
    actions: int


class RejectedItem(ReadModel):
    kind: Literal["execution", "action"]
    index: int
    reason: str


class CircuitState(ReadModel):
    state: Literal["closed", "open", "half_open", "forced_open", "forced_closed"]
    retry_after_s: float | None


class IngestResult(ReadModel):
    accepted: Counts
    duplicates: Counts
    rejected: list[RejectedItem]
    stream: Literal["ok", "unavailable"] = Field(
        description="`unavailable`: Redis is down; the items are stored all the same."
    )
    circuits: dict[str, CircuitState]
    routing_version: int
