"""One ingest item at a time: a bad item is reported by its index, the good ones are stored.

Unknown fields are ignored, not refused: an SDK newer than the server must still deliver.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from api.schemas.common import JsonObject, JsonValue, Name, Text

MAX_ITEM_BYTES = 64 * 1024
MAX_ITEMS = 5_000


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    agent: Name
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    duration_ms: float | None = Field(default=None, ge=0, le=7 * 86_400_000)
    model: Name | None = None
    input_tokens: int = Field(default=0, ge=0, le=2**31 - 1)
    output_tokens: int = Field(default=0, ge=0, le=2**31 - 1)
    cost_usd: float = Field(default=0, ge=0, le=1_000_000)
    error_type: Name | None = None
    error_message: Text | None = Field(default=None, max_length=10_000)
    input: JsonValue = None
    output: JsonValue = None

    @field_validator("started_at", "ended_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone")
        return value

    def _check_times(self) -> None:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")


class ExecutionIn(_Item):
    execution_id: uuid.UUID
    status: Literal["running", "success", "failure", "timeout", "cancelled"]
    session_id: Name | None = None
    parent_execution_id: uuid.UUID | None = None
    trace_id: Name | None = None
    prompt_version_id: uuid.UUID | None = None
    experiment_id: uuid.UUID | None = None
    variant: Name | None = None
    metadata: JsonObject = Field(default_factory=dict)


class ActionIn(_Item):
    action_id: uuid.UUID
    execution_id: uuid.UUID
    parent_action_id: uuid.UUID | None = None
    sequence: int = Field(default=0, ge=0, le=2**31 - 1)
    action_type: Literal[
        "tool_call",
        "llm_inference",
        "retrieval",
        "human_intervention",
        "decision",
        "error",
        "custom",
    ]
    name: Name
    status: Literal["success", "failure", "timeout"]
    attributes: JsonObject = Field(default_factory=dict)


_EXECUTION = TypeAdapter(ExecutionIn)
_ACTION = TypeAdapter(ActionIn)


@dataclass(frozen=True)
class Rejected:
    kind: Literal["execution", "action"]
    index: int
    reason: str


def _reason(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else first["msg"]
    return str(exc)


def _payload_bytes(item: ExecutionIn | ActionIn) -> int:
    """JSON size of the free-form fields, the only ones without a length limit of their own;
    also refuses NaN, which jsonb cannot store. Empty fields cost nothing (most actions)."""
    extra = item.metadata if isinstance(item, ExecutionIn) else item.attributes
    return sum(
        len(json.dumps(value, allow_nan=False))
        for value in (item.input, item.output, extra)
        if value is not None and value != {}
    )


def parse_items(
    raw: list[Any],
    kind: Literal["execution", "action"],
    *,
    earliest: dt.datetime,
    latest: dt.datetime,
) -> tuple[list[tuple[int, Any]], list[Rejected]]:
    """Validate each item; return the good ones with their batch index, and the rejections."""
    adapter = _EXECUTION if kind == "execution" else _ACTION
    good: list[tuple[int, Any]] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(raw):
        try:
            parsed = adapter.validate_python(item)
            parsed._check_times()
            if not earliest <= parsed.started_at <= latest:
                raise ValueError(
                    "started_at is outside the accepted window (the tenant's retention,"
                    " up to one day ahead)"
                )
            if _payload_bytes(parsed) > MAX_ITEM_BYTES:
                raise ValueError(f"item is larger than {MAX_ITEM_BYTES} bytes of JSON")
        except (ValidationError, ValueError, TypeError) as exc:
            reason = _reason(exc) if not isinstance(exc, TypeError) else "not JSON-serialisable"
            rejected.append(Rejected(kind, index, reason))
            continue
        good.append((index, parsed))
    return good, rejected
