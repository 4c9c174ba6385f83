"""Secrets and e-mail addresses never leave the process; big payloads are cut with a marker."""

from __future__ import annotations

import json

import pytest

from meta_agent_sdk import SanitizeConfig
from meta_agent_sdk._sanitize import Sanitizer

R = "[REDACTED]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123def456ghi789", f"Authorization: {R}"),
        ("sent bearer eyJhbGciOiJIUzI1NiJ9.abcdefgh.ijklmnop", f"sent bearer {R}"),
        ("the bearer of good news", "the bearer of good news"),
        ("key sk-proj-AbCdEf0123456789xyzXYZ done", f"key {R} done"),
        ("anthropic sk-ant-api03-abcdefghijklmnopqrstuvwx", f"anthropic {R}"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", f"stripe {R}"),
        (
            "postgres://admin:hunter2@db.example.com:5432/app",
            f"postgres://admin:{R}@db.example.com:5432/app",
        ),
        ("redis://:s3cret@cache:6379/0", f"redis://:{R}@cache:6379/0"),
        (
            "Server=db;User Id=sa;Password=hunter2;Database=x",
            f"Server=db;User Id=sa;Password={R};Database=x",
        ),
        (
            "https://api.example.com/v1?api_key=abc123&q=1",
            f"https://api.example.com/v1?api_key={R}&q=1",
        ),
        ('{"password": "hunter2", "user": "bob"}', f'{{"password": "{R}", "user": "bob"}}'),
        ("AWS AKIAIOSFODNN7EXAMPLE used", f"AWS {R} used"),
        ("gh token ghp_abcdefghijklmnopqrstuvwxyz0123456789", f"gh token {R}"),
        ("slack xoxb-123456789012-abcdefghij", f"slack {R}"),
        ("mail alice.smith@example.co.uk or BOB@EXAMPLE.COM", "mail [EMAIL] or [EMAIL]"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", R),
        ("max_tokens: 500 and input_tokens=20", "max_tokens: 500 and input_tokens=20"),
        ("monkey keyboard", "monkey keyboard"),
    ],
)
def test_secrets_and_emails_are_redacted_in_text(text, expected):
    assert Sanitizer().text(text) == expected


def test_values_under_secret_keys_are_replaced_whole_at_any_depth():
    payload = {
        "user": "bob",
        "password": "hunter2",
        "headers": {"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": "k-1", "Accept": "*/*"},
        "db": [{"connection_string": "postgres://u:pw@h/db", "client_secret": 123}],
        "input_tokens": 5,
        "auth_token": None,
    }
    clean = Sanitizer().value(payload)
    assert clean == {
        "user": "bob",
        "password": R,
        "headers": {"Authorization": R, "X-Api-Key": R, "Accept": "*/*"},
        "db": [{"connection_string": f"postgres://u:{R}@h/db", "client_secret": R}],
        "input_tokens": 5,
        "auth_token": None,
    }


def test_long_strings_lists_and_deep_nesting_are_cut_with_a_marker():
    s = Sanitizer(SanitizeConfig(max_string_chars=10, max_collection_items=3, max_depth=3))
    assert s.text("x" * 25) == "x" * 10 + "…[truncated 15 chars]"
    assert s.value(list(range(5))) == [0, 1, 2, "…[truncated 2 items]"]
    assert s.value({str(i): i for i in range(5)}) == {
        "0": 0,
        "1": 1,
        "2": 2,
        "…": "…[truncated 2 keys]",
    }
    assert s.value({"a": {"b": {"c": {"d": 1}}}}) == {
        "a": {"b": {"c": "[truncated: nested deeper than 3]"}}
    }


def test_a_secret_straddling_the_cut_is_still_redacted():
    s = Sanitizer(SanitizeConfig(max_string_chars=20))
    text = "x" * 15 + " sk-proj-AbCdEf0123456789xyz"
    assert "AbCdEf" not in s.text(text)


def test_what_is_redacted_is_configurable():
    keep_emails = Sanitizer(SanitizeConfig(redact_emails=False))
    assert keep_emails.text("alice@example.com") == "alice@example.com"
    custom = Sanitizer(
        SanitizeConfig(extra_patterns=(r"\bEMP-\d{6}\b",), secret_keys=("ssn",), replacement="***")
    )
    assert custom.text("badge EMP-123456 token=abc") == "badge *** token=***"
    assert custom.value({"SSN": "123-45-6789"}) == {"SSN": "***"}
    off = Sanitizer(SanitizeConfig(enabled=False))
    assert off.text("password=hunter2 bob@example.com") == "password=hunter2 bob@example.com"
    with pytest.raises(ValueError, match="max_item_bytes"):
        SanitizeConfig(max_item_bytes=10**6)


def test_odd_values_become_json():
    import datetime
    import enum
    import uuid
    from dataclasses import dataclass

    class Color(enum.Enum):
        RED = "red"

    @dataclass
    class Point:
        x: int
        secret: str

    value = {
        "when": datetime.datetime(2026, 11, 28, 9, 0, tzinfo=datetime.timezone.utc),
        "id": uuid.UUID(int=1),
        "color": Color.RED,
        "blob": b"\x00\x01",
        "nan": float("nan"),
        "point": Point(1, "x"),
        "set": {1},
        1: "int key",
        "error": ValueError("bad password=hunter2"),
        "obj": object(),
    }
    clean = Sanitizer().value(value)
    json.dumps(clean, allow_nan=False)
    assert clean["when"] == "2026-11-28T09:00:00+00:00"
    assert clean["color"] == "red"
    assert clean["blob"] == "<2 bytes>"
    assert clean["nan"] == "nan"
    assert clean["point"] == {"x": 1, "secret": R}
    assert clean["1"] == "int key"
    assert clean["error"] == f"ValueError: bad password={R}"
    assert clean["obj"].startswith("<object object")


def test_secrets_are_redacted_before_they_reach_the_server(server, make_logger):
    logger = make_logger(server.url, sanitize=SanitizeConfig(max_string_chars=100))
    with logger.execution(
        input={"prompt": "email bob@example.com", "api_key": "sk-live-abc"},
        metadata={"db": "mysql://root:toor@db/x"},
    ) as ex:
        ex.tool_call(
            "http",
            input={"headers": {"Authorization": "Bearer abc123def456ghi789"}},
            output="y" * 500,
            duration_ms=1,
        )
    assert logger.flush(5)
    assert server.wait_for(2)
    raw = json.dumps([server.state.executions, server.state.actions])
    for secret in ("bob@example.com", "sk-live-abc", "toor", "abc123def456ghi789"):
        assert secret not in raw
    (action,) = server.state.actions.values()
    assert action["output"] == "y" * 100 + "…[truncated 400 chars]"


def test_an_item_over_the_per_item_limit_is_cut_to_fit(server, make_logger):
    logger = make_logger(
        server.url,
        sanitize=SanitizeConfig(max_item_bytes=4096, max_string_chars=100_000),
    )
    with logger.execution() as ex:
        ex.tool_call("big", input="i" * 20_000, output={"o": "o" * 20_000}, duration_ms=1)
    assert logger.flush(5)
    assert server.wait_for(2)
    (action,) = server.state.actions.values()
    sent = server.state.sent[action["action_id"]]
    assert len(json.dumps(sent, ensure_ascii=False, separators=(",", ":")).encode()) <= 4096
    assert "truncated" in action["input"]
    assert "truncated" in action["output"]
