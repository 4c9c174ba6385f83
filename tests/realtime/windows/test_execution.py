"""A stream entry as the worker parses it: what ingest writes (a float duration, a numeric
cost) is accepted, and a malformed field names itself."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime.windows import BadExecutionEntry, parse_entry


def entry(**fields: str) -> dict[str, str]:
    return {
        "tenant_id": str(uuid.uuid4()),
        "agent_id": str(uuid.uuid4()),
        "execution_id": str(uuid.uuid4()),
        "status": "success",
        "started_ms": "1800000000000",
        "duration_ms": "1234",
        "cost_usd": "0.00120000",
        **fields,
    }


@pytest.mark.parametrize(("text", "ms"), [("0.024", 0), ("1234.6", 1234), ("7", 7), ("", None)])
def test_durations_are_the_float_column_rounded_down_to_milliseconds(text, ms):
    assert parse_entry(entry(duration_ms=text)).duration_ms == ms


def test_cost_is_kept_exactly_in_units_of_1e_8_usd():
    assert parse_entry(entry(cost_usd="0.00120000")).cost_units == 120_000


@given(st.decimals(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False))
def test_every_written_form_of_a_cost_gives_the_units_decimal_gives(cost: Decimal):
    """The plain form is read without a Decimal; exponents and long fractions take one."""
    expected = int(cost * 10**8)
    for text in {str(cost), f"{cost:f}"}:
        assert parse_entry(entry(cost_usd=text)).cost_units == expected


def test_bytes_and_text_entries_parse_alike():
    text = entry(cost_usd="12.5")
    raw = {k.encode(): v.encode() for k, v in text.items()}
    assert parse_entry(raw) == parse_entry(text)


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("duration_ms", "abc", "duration_ms is not a number"),
        ("duration_ms", "-1", "duration_ms must be a finite non-negative number"),
        ("duration_ms", "nan", "duration_ms must be a finite non-negative number"),
        ("started_ms", "", "started_ms is missing"),
        ("status", "exploded", "is not an execution status"),
        ("agent_id", "x", "agent_id is not a UUID"),
        ("cost_usd", "-0.1", "cost_usd must be a finite non-negative number"),
    ],
)
def test_a_malformed_field_is_named(field, text, message):
    with pytest.raises(BadExecutionEntry, match=message):
        parse_entry(entry(**{field: text}))


def test_a_permit_token_travels_with_the_execution():
    assert parse_entry(entry(permit="probe:4:0:1800000030000")).permit == "probe:4:0:1800000030000"
    assert parse_entry(entry()).permit == ""
