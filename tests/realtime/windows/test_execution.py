"""A stream entry as the worker parses it: what ingest writes (a float duration, a numeric
cost) is accepted, and a malformed value names itself; the field-per-value entries an earlier
version wrote parse alike."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meta_agent.stream import ENTRY_FIELD, ENTRY_VALUES, execution_entry
from realtime.windows import BadExecutionEntry, parse_entry


def entry(**fields: str) -> dict[str, str]:
    """The one-field entry ingest writes, of these values."""
    values = by_field(**fields)
    return {ENTRY_FIELD: " ".join(values.get(name, "") for name in ENTRY_VALUES)}


def by_field(**fields: str) -> dict[str, str]:
    """The same values, a field each (the earlier form)."""
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


def test_every_form_of_an_entry_parses_alike():
    """A mapping or the name/value list of a Redis reply, one field or a field per value."""
    fields = {"cost_usd": "12.5", "variant": "b", "prompt_version_id": str(uuid.uuid4())}
    fields |= {name: str(uuid.uuid4()) for name in ("tenant_id", "agent_id", "execution_id")}
    expected = parse_entry(entry(**fields))
    for form in (entry(**fields), by_field(**fields)):
        assert parse_entry(form) == expected
        assert parse_entry([p.encode() for pair in form.items() for p in pair]) == expected


def test_the_variant_is_kept_whole_whatever_it_holds():
    assert parse_entry(entry(variant="a b  c\n")).variant == "a b  c\n"


def test_ingest_drops_a_permit_with_a_space_rather_than_shift_the_values_after_it():
    row = {
        "tenant_id": uuid.uuid4(),
        "agent_id": uuid.uuid4(),
        "execution_id": uuid.uuid4(),
        "status": "success",
        "started_at": dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
        "duration_ms": 12.5,
        "cost_usd": Decimal("0.001"),
        "input_tokens": 3,
        "output_tokens": None,
        "prompt_version_id": None,
        "variant": "blue",
        "circuit_permit": "probe:1 :0:5",
    }
    execution = parse_entry(execution_entry(row))
    assert (execution.permit, execution.variant, execution.duration_ms) == ("", "blue", 12)
    assert (execution.cost_units, execution.input_tokens) == (100_000, 3)


def test_an_entry_with_values_missing_is_refused():
    with pytest.raises(BadExecutionEntry, match="8 values where an entry has 12"):
        parse_entry({ENTRY_FIELD: "a b c d e f g h"})


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
