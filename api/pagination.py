"""Keyset pagination: a page ends at a (sort key, id) pair, and the next starts after it.

Unlike offsets, a keyset cursor stays correct while rows are inserted between page requests:
nothing is skipped or repeated. The cursor is opaque to clients (base64 of JSON).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from api.errors import ApiError


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(
        [v if isinstance(v, (int, float, str)) or v is None else str(v) for v in values]
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity:
        raise ApiError(422, "cursor is not valid; pass back a next_cursor from a previous page")
    return values
