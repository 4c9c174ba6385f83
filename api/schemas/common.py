"""Shapes and field types shared by every resource.

Postgres refuses NUL characters in text, lone UTF-16 surrogates cannot be encoded for it, and
jsonb refuses NaN: each would surface as a 500 deep in a query. They are refused here, at the
edge, as a 422 that names the field.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


Text = Annotated[str, AfterValidator(_storable_text)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable_text)]
LongText = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_storable_text)]
Tag = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_storable_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
PageLimit = Annotated[int, Field(ge=1, le=500)]


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
        413: "Request body too large",
        422: "Invalid request",
    }.items()
}
