"""Ids are UUIDv7 and time-ordered; prices resolve dated and prefixed model names."""

from __future__ import annotations

import time
import uuid

import pytest

from meta_agent_sdk._ids import random_bits, uuid7_text
from meta_agent_sdk._prices import PriceTable


def test_ids_are_uuid7_with_the_millisecond_timestamp():
    now = time.time_ns()
    value = uuid.UUID(uuid7_text(now, random_bits(74)))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == now // 1_000_000


def test_ids_sort_by_time_and_do_not_collide():
    start = time.time_ns()
    ids = [uuid7_text(start + i * 1_000_000, random_bits(74)) for i in range(50_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    same_ms = {uuid7_text(start, random_bits(74)) for _ in range(50_000)}
    assert len(same_ms) == 50_000


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-sonnet-4-5", (3.0, 15.0)),
        ("claude-sonnet-4-5-20250929", (3.0, 15.0)),
        ("anthropic/claude-haiku-4-5", (1.0, 5.0)),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", (3.0, 15.0)),
        ("gpt-4o-2024-08-06", (2.5, 10.0)),
        ("gpt-4o-mini-2024-07-18", (0.15, 0.6)),
        ("openai/gpt-4.1-mini", (0.4, 1.6)),
        ("GPT-4o", (2.5, 10.0)),
        ("gpt-4", None),
        ("gpt-4oo", None),
        ("my-model", None),
    ],
)
def test_model_names_resolve_to_the_longest_known_name(model, expected):
    assert PriceTable().lookup(model) == expected


def test_cost_is_tokens_times_price_and_overrides_win():
    table = PriceTable({"claude-sonnet-4-5": (1.0, 1.0), "local-llm": (0.0, 0.0)})
    assert table.cost("claude-sonnet-4-5-20250929", 1_000_000, 1_000_000) == 2.0
    assert table.cost("local-llm", 10, 10) == 0.0
    assert PriceTable().cost("claude-sonnet-4-5", 1200, 300) == pytest.approx(0.0081)
    assert PriceTable().cost(None, 1, 1) == 0.0
