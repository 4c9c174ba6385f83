"""One ingest item at a time: a bad item is reported by its index, the good ones are stored.

Unknown fields are ignored, not refused: an SDK newer than the server must still deliver.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from api.schemas.common import MAX_JSON_DEPTH, Name, Text, check_storable_json

MAX_ITEM_BYTES = 64 * 1024
MAX_ITEMS = 5_000

# An id as text in a form Postgres's uuid type reads (hyphens optional, either case): the
# database makes the uuid. A uuid.UUID object per id, three per action, was a fifth of the
# cost of validating a batch, and the ids only ever travel on to the database as text.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
UuidText = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]


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
    # free-form JSON: checked once per item in `_free_form_bytes`, not by a validator per
    # field (three Python calls an item, most of them on None and {}, were a sixth of the
    # ingest endpoint's CPU)
    input: Any = None
    output: Any = None

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
    execution_id: UuidText
    status: Literal["running", "success", "failure", "timeout", "cancelled"]
    session_id: Name | None = None
    parent_execution_id: UuidText | None = None
    trace_id: Name | None = None
    prompt_version_id: UuidText | None = None
    experiment_id: UuidText | None = None
    variant: Name | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ActionIn(_Item):
    action_id: UuidText
    execution_id: UuidText
    parent_action_id: UuidText | None = None
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
    attributes: dict[str, Any] = Field(default_factory=dict)


_EXECUTION = TypeAdapter(ExecutionIn)
_ACTION = TypeAdapter(ActionIn)
_EXECUTIONS = TypeAdapter(list[ExecutionIn])
_ACTIONS = TypeAdapter(list[ActionIn])


@dataclass(frozen=True)
class Rejected:
    kind: Literal["execution", "action"]
    index: int
    reason: str


class BatchIn(BaseModel):
    """A whole batch, validated in one call from its JSON text (`validate_batch_json`)."""

    model_config = ConfigDict(extra="ignore")

    sdk: dict[str, Any] | None = None
    executions: list[ExecutionIn] = Field(default_factory=list)
    actions: list[ActionIn] = Field(default_factory=list)


def validate_batch_json(body: bytes) -> BatchIn | None:
    """The batch, if its JSON text is valid and every item in it is; else None.

    The usual batch is all good, and pydantic reads it straight from the bytes in Rust: no
    Python dict per item, and no second pass. Anything else (a bad item, text the Rust parser
    refuses such as a lone surrogate) takes the item-by-item path, which names each problem.
    """
    try:
        return BatchIn.model_validate_json(body)
    except ValidationError:
        return None


def _reason(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = "must be a UUID" if first["type"] == "string_pattern_mismatch" else first["msg"]
        return f"{where}: {message}" if where else message
    return str(exc)


def _free_form_bytes(item: ExecutionIn | ActionIn) -> int:
    """UTF-8 size of the free-form fields as JSON, the only ones without a length limit of
    their own, once each is known storable: no NaN or infinity (jsonb refuses them), no NUL
    or lone surrogate (Postgres text refuses them), nested at most MAX_JSON_DEPTH deep.

    The JSON text answers most of that at C speed; only a field whose text looks suspicious
    (a \u0000 escape, many brackets, or no text at all) is walked exactly, to be refused with
    the reason. Empty fields cost nothing (most actions)."""
    extra = (
        ("metadata", item.metadata)
        if isinstance(item, ExecutionIn)
        else ("attributes", item.attributes)
    )
    size = 0
    for name, value in (("input", item.input), ("output", item.output), extra):
        if value is None or value == {}:
            continue
        try:
            data = json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except (ValueError, UnicodeEncodeError):  # NaN or infinity; a lone surrogate
            data = b""
        if not data or b"\\u0000" in data or data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:
            try:
                check_storable_json(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        size += len(data)
    return size


def parse_items(
    raw: list[Any],
    kind: Literal["execution", "action"],
    *,
    earliest: dt.datetime,
    latest: dt.datetime,
    prevalidated: bool = False,
) -> tuple[list[tuple[int, Any]], list[Rejected]]:
    """Validate each item; return the good ones with their batch index, and the rejections.

    `prevalidated`: `raw` holds models from `validate_batch_json`; only the checks that span
    fields or need the tenant (times, the accepted window, free-form size) remain."""
    adapter = _EXECUTION if kind == "execution" else _ACTION
    # the usual batch is all good: one call validates the whole list (in Rust, without a
    # Python round per item); a batch holding a bad item is validated item by item, to say
    # which one and why
    validated: list[Any] | None = raw if prevalidated else None
    if validated is None:
        try:
            validated = (_EXECUTIONS if kind == "execution" else _ACTIONS).validate_python(raw)
        except ValidationError:
            validated = None
    good: list[tuple[int, Any]] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(raw):
        try:
            parsed = adapter.validate_python(item) if validated is None else validated[index]
            parsed._check_times()
            if not earliest <= parsed.started_at <= latest:
                raise ValueError(
                    "started_at is outside the accepted window (the tenant's retention,"
                    " up to one day ahead)"
                )
            if _free_form_bytes(parsed) > MAX_ITEM_BYTES:
                raise ValueError(f"item is larger than {MAX_ITEM_BYTES} bytes of JSON")
        except (ValidationError, ValueError, TypeError) as exc:
            reason = _reason(exc) if not isinstance(exc, TypeError) else "not JSON-serialisable"
            rejected.append(Rejected(kind, index, reason))
            continue
        good.append((index, parsed))
    return good, rejected
