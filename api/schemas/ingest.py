"""The ingest request and response (see docs/ingest-protocol.md)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import ReadModel


class SdkInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=100)
    version: str | None = Field(default=None, max_length=50)


class IngestBatch(BaseModel):
    """Items are validated one by one, so a bad item rejects only itself."""

    model_config = ConfigDict(extra="ignore")

    sdk: SdkInfo | None = None
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
