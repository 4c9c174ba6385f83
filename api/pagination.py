"""Keyset pagination: a page ends at a (sort key, id) pair, and the next starts after it.

Unlike offsets, a keyset cursor stays correct while rows are inserted between page requests:
nothing is skipped or repeated. The cursor is opaque to clients (base64 of JSON).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from api.errors import ApiError


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(
        [v if isinstance(v, (int, float, str)) or v is None else str(v) for v in values]
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def page_of(
    rows: Sequence[dict[str, Any]], limit: int, *keys: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The page (the first `limit` rows: a query fetches one more to know that another page
    follows) and the cursor after its last row, made of that row's `keys` columns."""
    page = list(rows[:limit])
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    values = (last[k].isoformat() if isinstance(last[k], dt.datetime) else last[k] for k in keys)
    return page, encode_cursor(*values)


def _parse(value: Any, kind: type) -> Any:
    """`value` as a `kind`; a ValueError for anything a cursor of ours never holds.

    A cursor comes back from the client, so it is input like any other: a number where text
    belongs, NUL or a lone surrogate would otherwise reach the query and fail there as a 500.
    """
    if kind is int and type(value) is int:  # not bool, not float
        return value
    if type(value) is not str or "\x00" in value:
        raise ValueError(value)
    value.encode("utf-8")  # lone surrogates raise UnicodeEncodeError, a ValueError
    if kind is uuid.UUID:
        return uuid.UUID(value)
    if kind is dt.datetime:
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(value)
        return moment
    if kind is str:
        return value
    raise ValueError(value)


def decode_cursor(cursor: str | None, *kinds: type) -> list[Any] | None:
    """The values of a cursor made by `encode_cursor`, parsed as `kinds`; a 422 otherwise."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError(values)
        return [_parse(value, kind) for value, kind in zip(values, kinds, strict=True)]
    except (ValueError, binascii.Error):  # UnicodeError and JSONDecodeError are ValueErrors
        raise ApiError(
            422, "cursor is not valid; pass back a next_cursor from a previous page"
        ) from None
