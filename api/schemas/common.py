"""Shapes and field types shared by every resource.

Postgres refuses NUL characters in text, lone UTF-16 surrogates cannot be encoded for it, and
jsonb refuses NaN: each would surface as a 500 deep in a query. They are refused here, at the
edge, as a 422 that names the field.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

T = TypeVar("T")

MAX_TEXT = 100_000
MAX_JSON_DEPTH = 32


def _storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _storable_json(value: Any, depth: int = 0) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        _storable_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must not contain NaN or infinite numbers")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable_text(key)
            _storable_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable_json(item, depth + 1)
    return value


# for checks made outside a validator (the ingest items' free-form fields)
check_storable_json = _storable_json


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out, but not be null")
    return value


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a time zone")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        try:  # 0001-01-01T00:30+01:00 is a valid text, and a moment of year 0 in UTC
            moment.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError("must fall between years 1 and 9999 in UTC") from None
    return moment


def _json_integer(value: Any) -> Any:
    if isinstance(value, (str, bool)):
        raise ValueError("must be a JSON number")
    return value


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


Text = Annotated[str, AfterValidator(_storable_text)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable_text)]
LongText = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_storable_text)]
Tag = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_storable_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
JsonValue = Annotated[Any, AfterValidator(_storable_json)]
PageLimit = Annotated[int, Field(ge=1, le=500)]
# A moment as the schema promises it: an RFC 3339 string with an offset; not a Unix number,
# which pydantic would otherwise take, and not a naive time, which the database would guess at.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
# Marks an int field as the schema promises it: 5 or 5.0, not "5" or true, which pydantic
# would take. It goes after the field's constraints, or they vanish from the JSON schema.
JSON_INTEGER = BeforeValidator(_json_integer)
# A field of a partial update whose column always has a value: left out, it stays as it is;
# null is refused here (the schema does not offer it) instead of failing as a NOT NULL in SQL.
Omittable = Annotated[
    T | SkipJsonSchema[None],
    BeforeValidator(_not_null),
    Field(json_schema_extra=_without_default),
]


class WriteModel(BaseModel):
    """A request body: unknown fields are refused, not ignored, so typos do not vanish."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=False)


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated list; pass `next_cursor` back as `cursor` for the next."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Opaque; absent on the last page.")


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["agent not found"])
    details: Any = None


class ErrorResponse(BaseModel):
    """The shape of every 4xx and 5xx response."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        401: "Missing, unknown or revoked API key",
        403: "The key lacks the scope this operation needs",
        404: "Not found (also for another tenant's id)",
        400: "The body cannot be read (it is not UTF-8, say)",
        409: "Conflicts with what is stored: a name in use, an archived agent",
        413: "Request body too large",
        422: "Invalid request",
    }.items()
}
