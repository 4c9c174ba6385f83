"""One ingest item at a time: a bad item is reported by its index, the good ones are stored.

Unknown fields are ignored, not refused: an SDK newer than the server must still deliver.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict

from api.schemas.common import MAX_JSON_DEPTH, Name, Text, check_storable_json

MAX_ITEM_BYTES = 64 * 1024
MAX_ITEMS = 5_000

# An id as text in a form Postgres's uuid type reads (hyphens optional, either case): the
# database makes the uuid. A uuid.UUID object per id, three per action, was a fifth of the
# cost of validating a batch, and the ids only ever travel on to the database as text.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
UuidText = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]


Count = Annotated[int, Field(ge=0, le=2**31 - 1)]


# Items are TypedDicts, not models: validated into plain dicts, a batch costs less than half
# (for 2,000 actions 4.4 ms instead of 10.8 ms). A field left out stays out, so the defaults
# of optional fields are the insert's (`store.py`), and readers use `.get`.
class _Item(TypedDict):
    __pydantic_config__ = ConfigDict(extra="ignore", allow_inf_nan=False)  # type: ignore[misc]

    agent: Name
    started_at: AwareDatetime
    ended_at: NotRequired[AwareDatetime | None]
    duration_ms: NotRequired[Annotated[float, Field(ge=0, le=7 * 86_400_000)] | None]
    model: NotRequired[Name | None]
    input_tokens: NotRequired[Count]
    output_tokens: NotRequired[Count]
    cost_usd: NotRequired[Annotated[float, Field(ge=0, le=1_000_000)]]
    error_type: NotRequired[Name | None]
    error_message: NotRequired[Annotated[Text, Field(max_length=10_000)] | None]
    # free-form JSON: checked once per item in `_free_form_bytes`, not by a validator per
    # field (three Python calls an item, most of them on None and {}, were a sixth of the
    # ingest endpoint's CPU)
    input: NotRequired[Any]
    output: NotRequired[Any]


class ExecutionIn(_Item):
    execution_id: UuidText
    status: Literal["running", "success", "failure", "timeout", "cancelled"]
    session_id: NotRequired[Name | None]
    parent_execution_id: NotRequired[UuidText | None]
    trace_id: NotRequired[Name | None]
    prompt_version_id: NotRequired[UuidText | None]
    experiment_id: NotRequired[UuidText | None]
    variant: NotRequired[Name | None]
    metadata: NotRequired[dict[str, Any]]


class ActionIn(_Item):
    action_id: UuidText
    execution_id: UuidText
    parent_action_id: NotRequired[UuidText | None]
    sequence: NotRequired[Count]
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
    attributes: NotRequired[dict[str, Any]]


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


# pydantic's words for what a client is told in ours (the only pattern is the UUID's)
_MESSAGES = {"string_pattern_mismatch": "must be a UUID", "timezone_aware": "needs a time zone"}


def _reason(exc: ValidationError | ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = _MESSAGES.get(first["type"], first["msg"])
        return f"{where}: {message}" if where else message
    return str(exc)


def _free_form_bytes(item: Mapping[str, Any]) -> int:
    """UTF-8 size of the free-form fields as JSON, the only ones without a length limit of
    their own, once each is known storable: no NaN or infinity (jsonb refuses them), no NUL
    or lone surrogate (Postgres text refuses them), nested at most MAX_JSON_DEPTH deep.

    The JSON text answers most of that at C speed; only a field whose text looks suspicious
    (a \u0000 escape, many brackets, or no text at all) is walked exactly, to be refused with
    the reason. Empty fields cost nothing (most actions)."""
    size = 0
    for name in ("input", "output", "metadata", "attributes"):
        value = item.get(name)
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

    `prevalidated`: `raw` holds items from `validate_batch_json`; only the checks that span
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
            started, ended = parsed["started_at"], parsed.get("ended_at")
            if ended is not None and ended < started:
                raise ValueError("ended_at is before started_at")
            if not earliest <= started <= latest:
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
