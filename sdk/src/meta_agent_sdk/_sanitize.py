"""Redaction and truncation, applied on the worker before anything leaves the process.

Every free-form field (inputs, outputs, metadata, attributes, error messages) goes through
`Sanitizer.value`: it returns a JSON-safe copy in which secrets and, by default, e-mail
addresses are replaced, values under secret-looking keys are replaced whole, and long strings,
long collections and deep nesting are cut with a marker that says how much was cut.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

TRUNCATED = "…[truncated {n} {unit}]"

# (needles, match on lowercased text, pattern, kept-prefix group). A pattern runs only on text
# that contains one of its needles: a substring test is far cheaper than a regex scan, and most
# text holds no secret. Case-insensitive rules are lowercase patterns run on the lowercased text
# (much faster than re.IGNORECASE); their spans are applied to the original. Order matters: a
# URL's password goes before the e-mail rule sees "pw@host".
_SECRET_RULES: tuple[tuple[tuple[str, ...], bool, str, str | None], ...] = (
    (
        ("PRIVATE KEY",),
        False,
        r"-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?-----END[A-Z ]*PRIVATE KEY-----",
        None,
    ),
    (("://",), False, r"(?P<p>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+(?=@)", "p"),
    (
        ("authorization",),
        True,
        r"(?P<p>\bauthorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n]+",
        "p",
    ),
    (
        ("bearer",),
        True,
        r"(?P<p>\bbearer\s+)(?=[a-z0-9\-._~+/]*[0-9\-._~+/])[a-z0-9\-._~+/]{12,}=*",
        "p",
    ),
    (
        ("pass", "pwd", "secret", "token", "key"),
        True,
        r"(?P<p>\b(?:password|passwd|passphrase|pwd|secret|client[_-]?secret"
        r"|api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|auth[_-]?token|token"
        r"|access[_-]?key|secret[_-]?key|private[_-]?key)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&;,]+",
        "p",
    ),
    (("sk-", "sk_", "rk-", "rk_"), False, r"\b(?:sk|rk)[-_][A-Za-z0-9_\-]{16,}", None),
    (
        ("AKIA", "ASIA", "AGPA", "AIDA", "AROA"),
        False,
        r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
        None,
    ),
    (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        False,
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        None,
    ),
    (("xox",), False, r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", None),
    (("AIza",), False, r"\bAIza[0-9A-Za-z\-_]{35}", None),
    (("eyJ",), False, r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", None),
)
_EMAIL_RULE = (
    ("@",),
    False,
    r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
    None,
)
_SECRET_KEY = re.compile(
    r"(?:^|_)(?:password|passwd|passphrase|pwd|secret|token|api_?key|access_?key|secret_?key"
    r"|private_?key|auth|authorization|credentials?|cookie|set_cookie)$"
)


class _Rule:
    __slots__ = ("keep", "lower", "needles", "pattern", "repl")

    def __init__(
        self, needles: tuple[str, ...], lower: bool, pattern: str, keep: str | None, repl: str
    ) -> None:
        self.needles = needles
        self.lower = lower
        self.pattern = re.compile(pattern)
        self.keep = keep
        self.repl = repl

    def apply(self, text: str, hay: str) -> str:
        """`text` with every match found in `hay` (itself or its lowercase twin) replaced."""
        parts: list[str] = []
        last = 0
        keep = self.keep
        for m in self.pattern.finditer(hay):
            parts.append(text[last : m.end(keep) if keep else m.start()])
            parts.append(self.repl)
            last = m.end()
        if not parts:
            return text
        parts.append(text[last:])
        return "".join(parts)


@dataclass(frozen=True)
class SanitizeConfig:
    """What is redacted and truncated before data leaves the process.

    `secret_keys`: extra dict keys (compared case-insensitively) whose values are always
    replaced. `extra_patterns`: extra regular expressions; every match is replaced.
    `max_item_bytes` caps one encoded execution or action (the server takes 64 KiB).
    """

    enabled: bool = True
    redact_secrets: bool = True
    redact_emails: bool = True
    secret_keys: tuple[str, ...] = ()
    extra_patterns: tuple[str, ...] = ()
    replacement: str = "[REDACTED]"
    email_replacement: str = "[EMAIL]"
    max_string_chars: int = 8192
    max_collection_items: int = 500
    max_depth: int = 12
    max_item_bytes: int = 60_000

    def __post_init__(self) -> None:
        for name in ("max_string_chars", "max_collection_items", "max_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"SanitizeConfig.{name} must be >= 1")
        if not 1024 <= self.max_item_bytes <= 65_536:
            raise ValueError("SanitizeConfig.max_item_bytes must be within 1024..65536")
        for pattern in self.extra_patterns:
            re.compile(pattern)


def _truncate_text(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + TRUNCATED.format(n=len(text) - limit, unit="chars")


class Sanitizer:
    """A compiled `SanitizeConfig`: `text()` for one string, `value()` for any payload."""

    def __init__(self, config: SanitizeConfig | None = None) -> None:
        self.config = config = config or SanitizeConfig()
        rules: list[_Rule] = []
        if config.redact_secrets:
            rules.extend(_Rule(*r, config.replacement) for r in _SECRET_RULES)
        if config.redact_emails:
            rules.append(_Rule(*_EMAIL_RULE, config.email_replacement))
        self._rules = rules
        self._extra = [re.compile(p) for p in config.extra_patterns]
        self._keys = {k.lower().replace("-", "_") for k in config.secret_keys}
        self._key_cache: dict[str, bool] = {}
        self._repl = config.replacement
        self._limit = config.max_string_chars
        self._items = config.max_collection_items
        self._depth = config.max_depth

    def text(self, text: str) -> str:
        """`text` with secrets redacted and its length capped."""
        if not self.config.enabled:
            return text
        # Redact a little past the cut, so a secret straddling it is still recognised.
        if len(text) > self._limit + 1024:
            head, cut = text[: self._limit + 1024], len(text) - self._limit - 1024
        else:
            head, cut = text, 0
        if len(head) >= 6:  # the shortest secret or address ("a@b.io") is longer
            lowered: str | None = None
            for rule in self._rules:
                if rule.lower:
                    if lowered is None:
                        lowered = head.lower()
                        if len(lowered) != len(head):  # rare letters that change length
                            lowered = "".join(c if len(c.lower()) > 1 else c.lower() for c in head)
                    hay = lowered
                else:
                    hay = head
                for needle in rule.needles:
                    if needle in hay:
                        replaced = rule.apply(head, hay)
                        if replaced is not head:
                            head, lowered = replaced, None
                        break
        for pattern in self._extra:
            head = pattern.sub(self._repl, head)
        if len(head) <= self._limit and not cut:
            return head
        return head[: self._limit] + TRUNCATED.format(n=len(head) - self._limit + cut, unit="chars")

    def is_secret_key(self, key: str) -> bool:
        """Whether values under this mapping key are replaced whole."""
        found = self._key_cache.get(key)
        if found is None:
            norm = key.lower().replace("-", "_").replace(" ", "_")
            found = (
                self.config.enabled
                and self.config.redact_secrets
                and (norm in self._keys or _SECRET_KEY.search(norm) is not None)
            )
            if len(self._key_cache) < 10_000:
                self._key_cache[key] = found
        return found

    def value(self, value: Any, depth: int = 0) -> Any:
        """A JSON-safe, redacted and truncated copy of `value`."""
        if value is None or value is True or value is False:
            return value
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is int:
            return value
        if kind is float:
            return value if math.isfinite(value) else str(value)
        if depth >= self._depth:
            return f"[truncated: nested deeper than {self._depth}]"
        if isinstance(value, Mapping):
            return self._mapping(value, depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            return self._sequence(value, depth)
        return self._other(value, depth)

    def _mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i >= self._items:
                out["…"] = TRUNCATED.format(n=len(value) - self._items, unit="keys")
                break
            name = key if isinstance(key, str) else str(key)
            name = _truncate_text(name, 256)
            if item is not None and self.is_secret_key(name):
                out[name] = self._repl
            else:
                out[name] = self.value(item, depth + 1)
        return out

    def _sequence(self, value: Any, depth: int) -> list[Any]:
        out: list[Any] = []
        for i, item in enumerate(value):
            if i >= self._items:
                out.append(TRUNCATED.format(n=len(value) - self._items, unit="items"))
                break
            out.append(self.value(item, depth + 1))
        return out

    def _other(self, value: Any, depth: int) -> Any:
        if isinstance(value, (bool, int)):
            return int(value)
        if isinstance(value, float):
            return self.value(float(value), depth)
        if isinstance(value, str):
            return self.text(str(value))
        if isinstance(value, enum.Enum):
            return self.value(value.value, depth)
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return f"<{len(value)} bytes>"
        if isinstance(value, BaseException):
            return self.text(f"{type(value).__qualname__}: {value}")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
            return self._mapping(fields, depth)
        dump: Callable[..., Any] | None = getattr(value, "model_dump", None)  # pydantic v2
        if callable(dump):
            with contextlib.suppress(Exception):  # a payload's own method must not stop logging
                return self.value(dump(mode="json"), depth)
        return self.text(repr(value))
