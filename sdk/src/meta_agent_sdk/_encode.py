"""Turning executions and actions into the ingest protocol's JSON, on the worker's thread.

See docs/ingest-protocol.md of the MetaAgent repository for the shape. Each item is encoded on
its own (so a batch can be split without re-encoding) and kept under the server's per-item
limit by cutting its largest payload field down to a preview with a marker.
"""

from __future__ import annotations

import json
import json.encoder
import math
import time
from typing import Any

from meta_agent_sdk._action import DONE, Action
from meta_agent_sdk._circuits import PERMIT_METADATA_KEY
from meta_agent_sdk._execution import Execution
from meta_agent_sdk._prices import PriceTable
from meta_agent_sdk._sanitize import TRUNCATED, Sanitizer

_dumps = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str
).encode
_quote = json.encoder.encode_basestring  # C; gives '"..."' with JSON escapes
_OBJECT_FIELDS = ("metadata", "attributes")
_PAYLOAD_FIELDS = ("input", "output", "metadata", "attributes")


_second_text: dict[int, str] = {}
MAX_REMEMBERED_NAMES = 4096


def iso(unix_ns: int) -> str:
    """RFC 3339 UTC text with microseconds."""
    seconds, rest = divmod(unix_ns, 1_000_000_000)
    prefix = _second_text.get(seconds)
    if prefix is None:
        if len(_second_text) > 256:
            _second_text.clear()
        prefix = _second_text[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{prefix}.{rest // 1000:06d}Z"


def _num(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else "0.0"


class Encoder:
    """Sanitizes, prices and JSON-encodes items; stateless apart from caches.

    Items are written from a template rather than built as dicts and dumped: the worker's
    cost per item is also GIL time taken from the agent's threads.
    """

    def __init__(self, sanitizer: Sanitizer, prices: PriceTable) -> None:
        self.sanitizer = sanitizer
        self.prices = prices
        self._max_item = sanitizer.config.max_item_bytes
        self._names: dict[str, str] = {}

    def _text(self, value: str | None, limit: int = 2000) -> str:
        """A sanitized, capped, JSON-quoted string, or null."""
        if value is None:
            return "null"
        text = self.sanitizer.text(value if type(value) is str else str(value))
        if len(text) > limit:
            text = text[:limit] + TRUNCATED.format(n=len(text) - limit, unit="chars")
        return _quote(text)

    def _name(self, value: str | None) -> str:
        """`_text` for names that repeat (tool, model, error type): sanitized once, then
        remembered. Scanning "search" for secrets on every action was half its encoding."""
        if value is None:
            return "null"
        names = self._names
        quoted = names.get(value) if type(value) is str else None
        if quoted is None:
            quoted = self._text(value, 200)
            if type(value) is str:
                if len(names) >= MAX_REMEMBERED_NAMES:
                    names.clear()
                names[value] = quoted
        return quoted

    def _payload(self, value: Any, default: str = "null") -> str:
        if value is None:
            return default
        return _dumps(self.sanitizer.value(value))

    def action_cost(self, a: Action) -> float:
        """The action's explicit cost, else its price-table cost."""
        if a.cost_usd is not None:
            return float(a.cost_usd)
        return self.prices.cost(a.model, a.input_tokens, a.output_tokens)

    def action(self, a: Action) -> bytes:
        """One action as protocol JSON; fields at their default (null, 0, {}) are left out."""
        ex = a.execution
        parent = a.parent
        start, end = a._start_ns, a._end_ns
        parts = [
            f'{{"action_id":"{a.action_id}","execution_id":"{ex.execution_id}",'
            f'"agent":{_quote(ex.agent)},"sequence":{int(a.sequence)},'
            f'"action_type":{_quote(a.action_type)},"name":{self._name(a.name)},'
            f'"started_at":"{iso(start)}","ended_at":"{iso(end)}",'
            f'"duration_ms":{round((end - start) / 1e6, 3)!r},"status":{_quote(a.status)}'
        ]
        if parent is not None:
            parts.append(f',"parent_action_id":{_quote(parent.action_id)}')
        if a.model is not None:
            parts.append(f',"model":{self._name(a.model)}')
        self._usage(parts, a.input_tokens, a.output_tokens, self.action_cost(a))
        self._outcome(parts, a.error_type, a.error_message, a.input, a.output)
        if a.attributes:
            parts.append(f',"attributes":{self._payload(a.attributes)}')
        parts.append("}")
        return self._fit("".join(parts))

    def execution(self, ex: Execution) -> bytes:
        """One finished execution as protocol JSON, with totals from its LLM actions; fields
        at their default (null, 0, {}) are left out."""
        llm = [a for a in ex._llm if a._state == DONE]
        model = ex.model or (llm[-1].model if llm else None)
        in_tokens = ex.input_tokens
        if in_tokens is None:
            in_tokens = sum(int(a.input_tokens or 0) for a in llm)
        out_tokens = ex.output_tokens
        if out_tokens is None:
            out_tokens = sum(int(a.output_tokens or 0) for a in llm)
        cost = ex.cost_usd
        if cost is None:
            cost = round(sum(self.action_cost(a) for a in llm), 10)
        metadata = self.sanitizer.value(ex.metadata) if ex.metadata else {}
        if not isinstance(metadata, dict):
            metadata = {"value": metadata}
        # The permit token goes in after sanitizing, and survives cutting: it is no secret
        # of the agent's, and the breaker cannot count the probe without it.
        permit = ex._permit
        pinned = None if permit is None else {PERMIT_METADATA_KEY: permit.token}
        if pinned:
            metadata.update(pinned)
        start, end = ex._start_ns, ex._end_ns
        parts = [
            f'{{"execution_id":"{ex.execution_id}","agent":{_quote(ex.agent)},'
            f'"started_at":"{iso(start)}","ended_at":"{iso(end)}",'
            f'"duration_ms":{round((end - start) / 1e6, 3)!r},"status":{_quote(ex.status)}'
        ]
        for field, value in (
            ("session_id", ex.session_id),
            ("parent_execution_id", ex.parent_execution_id),
            ("trace_id", ex.trace_id),
            ("prompt_version_id", ex.prompt_version_id),
            ("experiment_id", ex.experiment_id),
        ):
            if value is not None:
                parts.append(f',"{field}":{self._text(value, 200)}')
        if ex.variant is not None:
            parts.append(f',"variant":{self._name(ex.variant)}')
        if model is not None:
            parts.append(f',"model":{self._name(model)}')
        self._usage(parts, in_tokens, out_tokens, cost)
        self._outcome(parts, ex.error_type, ex.error_message, ex.input, ex.output)
        if metadata:
            parts.append(f',"metadata":{_dumps(metadata)}')
        parts.append("}")
        return self._fit("".join(parts), pinned)

    @staticmethod
    def _usage(
        parts: list[str], in_tokens: int | None, out_tokens: int | None, cost: float
    ) -> None:
        if in_tokens:
            parts.append(f',"input_tokens":{int(in_tokens)}')
        if out_tokens:
            parts.append(f',"output_tokens":{int(out_tokens)}')
        if cost:
            parts.append(f',"cost_usd":{_num(cost)}')

    def _outcome(
        self, parts: list[str], error_type: str | None, message: str | None, input: Any, output: Any
    ) -> None:
        if error_type is not None:
            parts.append(f',"error_type":{self._name(error_type)}')
        if message is not None:
            parts.append(f',"error_message":{self._text(message)}')
        if input is not None:
            parts.append(f',"input":{self._payload(input)}')
        if output is not None:
            parts.append(f',"output":{self._payload(output)}')

    def _fit(self, text: str, pinned: dict[str, str] | None = None) -> bytes:
        data = text.encode("utf-8", "replace")  # "replace": lone surrogates are not UTF-8
        if len(data) <= self._max_item:
            return data
        item: dict[str, Any] = json.loads(data)
        # Cut the largest payload fields to previews until the item fits.
        sizes = {
            f: len(_dumps(item[f]).encode("utf-8", "replace")) for f in _PAYLOAD_FIELDS if f in item
        }
        extra = len(_dumps(pinned).encode()) if pinned else 0

        def cut(field: str, text: str) -> Any:
            if field not in _OBJECT_FIELDS:
                return text
            marker = {"_truncated": text}
            if pinned and field == "metadata":
                marker.update(pinned)
            return marker

        for field in sorted(sizes, key=sizes.__getitem__, reverse=True):
            over = len(data) - self._max_item
            if over <= 0:
                break
            keep = max(0, sizes[field] - over - 200 - (extra if field == "metadata" else 0))
            raw = _dumps(item[field]).encode("utf-8", "replace")[:keep].decode("utf-8", "ignore")
            item[field] = cut(
                field, raw + TRUNCATED.format(n=sizes[field] - keep, unit="bytes of JSON")
            )
            data = _dumps(item).encode("utf-8", "replace")
        if len(data) > self._max_item:  # escaping made the previews grow: keep markers only
            for field, size in sizes.items():
                item[field] = cut(field, TRUNCATED.format(n=size, unit="bytes of JSON"))
            data = _dumps(item).encode("utf-8", "replace")
        return data
