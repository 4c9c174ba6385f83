"""OTLP/HTTP traces mapped onto executions and actions, so any OpenTelemetry-instrumented
agent reports without our SDK.

One trace is one execution: its root span becomes the execution, every other span an action
whose parent is its parent span (or none, under the root). Ids are derived from trace and span
ids, so a re-exported span is a duplicate, not a second row. What a span *is* comes from the
OpenTelemetry `gen_ai.*` semantic conventions, or OpenInference's attribute names if present.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from api.errors import ApiError

_OPERATION_TYPES = {
    "chat": "llm_inference",
    "text_completion": "llm_inference",
    "generate_content": "llm_inference",
    "embeddings": "llm_inference",
    "execute_tool": "tool_call",
    "invoke_agent": "custom",
    "create_agent": "custom",
}
_OPENINFERENCE_TYPES = {
    "LLM": "llm_inference",
    "EMBEDDING": "llm_inference",
    "TOOL": "tool_call",
    "RETRIEVER": "retrieval",
    "RERANKER": "retrieval",
    "GUARDRAIL": "decision",
    "EVALUATOR": "decision",
}
_UNKNOWN_AGENT = "unknown-service"
_ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)
# already stored as the action's input and output
_PAYLOAD_KEYS = ("input.", "output.")


def parse_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """Decode an OTLP/HTTP body, protobuf or JSON, as the OTLP spec allows."""
    message = ExportTraceServiceRequest()
    try:
        if content_type.startswith("application/json"):
            document = json.loads(body)
            if not isinstance(document, dict):
                raise ApiError(422, "an OTLP/JSON body is an object with resourceSpans")
            json_format.ParseDict(_hex_ids_to_base64(document), message, ignore_unknown_fields=True)
        elif content_type.startswith("application/x-protobuf"):
            message.ParseFromString(body)
        else:
            raise ApiError(415, "OTLP bodies are application/x-protobuf or application/json")
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, ApiError):
            raise
        raise ApiError(422, "the body is not an OTLP ExportTraceServiceRequest") from None
    return message


def _hex_ids_to_base64(document: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping wants base64."""
    if isinstance(document, dict):
        converted = {}
        for key, value in document.items():
            if key in _ID_FIELDS and isinstance(value, str):
                with suppress(ValueError):  # not hex: left for the parser to refuse
                    value = base64.b64encode(bytes.fromhex(value)).decode()
            converted[key] = _hex_ids_to_base64(value)
        return converted
    if isinstance(document, list):
        return [_hex_ids_to_base64(item) for item in document]
    return document


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        attributes[pair.key] = _value(pair.value)
    return attributes


def _time(nanos: int) -> str | None:
    if not nanos:
        return None
    return dt.datetime.fromtimestamp(nanos / 1e9, dt.UTC).isoformat()


def _span_uuid(trace_id: bytes, span_id: bytes) -> str:
    # 16 bytes, unique per (trace, span) and stable across re-exports
    return str(uuid.UUID(bytes=(span_id + trace_id)[:8] + trace_id[8:16]))


def _action_type(attrs: dict[str, Any]) -> str:
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_TYPES:
        return _OPENINFERENCE_TYPES[kind.upper()]
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _OPERATION_TYPES:
        return _OPERATION_TYPES[operation]
    if "gen_ai.tool.name" in attrs:
        return "tool_call"
    if "gen_ai.request.model" in attrs or "llm.model_name" in attrs:
        return "llm_inference"
    return "custom"


def _error(span: Span, attrs: dict[str, Any]) -> tuple[str | None, str | None]:
    if span.status.code != Status.STATUS_CODE_ERROR:
        return None, None
    error_type = attrs.get("error.type")
    message = span.status.message or None
    for event in span.events:
        if event.name == "exception":
            details = _attributes(event.attributes)
            error_type = error_type or details.get("exception.type")
            message = message or details.get("exception.message")
    return (str(error_type) if error_type else "Error"), message


def _common(span: Span, attrs: dict[str, Any], agent: str) -> dict[str, Any]:
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    error_type, error_message = _error(span, attrs)
    model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
    return {
        "agent": agent,
        "started_at": _time(start),
        "ended_at": _time(end) if end >= start else None,
        "duration_ms": (end - start) / 1e6 if end >= start and end else None,
        "model": model or attrs.get("llm.model_name"),
        "input_tokens": attrs.get("gen_ai.usage.input_tokens")
        or attrs.get("llm.token_count.prompt")
        or 0,
        "output_tokens": attrs.get("gen_ai.usage.output_tokens")
        or attrs.get("llm.token_count.completion")
        or 0,
        "error_type": error_type,
        "error_message": error_message,
        "input": attrs.get("input.value"),
        "output": attrs.get("output.value"),
    }


def _spans(request: ExportTraceServiceRequest) -> Iterator[tuple[str, Span]]:
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name") or _UNKNOWN_AGENT)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield service, span


def to_items(
    request: ExportTraceServiceRequest,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The request's spans as ingest items: (executions, actions)."""
    executions: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for service, span in _spans(request):
        attrs = _attributes(span.attributes)
        agent = str(attrs.get("gen_ai.agent.name") or service)
        trace_id, span_id = bytes(span.trace_id), bytes(span.span_id)
        if len(trace_id) != 16 or len(span_id) != 8:
            continue  # not a valid span; OTLP says receivers may drop it
        item = _common(span, attrs, agent)
        execution_id = str(uuid.UUID(bytes=trace_id))
        if not span.parent_span_id:
            failed = item["error_type"] is not None
            executions.append({
                **item,
                "execution_id": execution_id,
                "status": "failure" if failed else "success",
                "trace_id": trace_id.hex(),
                "session_id": attrs.get("session.id") or attrs.get("gen_ai.conversation.id"),
                "metadata": {"otel.span_name": span.name, "otel.scope": "otlp"},
            })  # fmt: skip
            continue
        parent = bytes(span.parent_span_id)
        actions.append({
            **item,
            "action_id": _span_uuid(trace_id, span_id),
            "execution_id": execution_id,
            # The root span is the execution, not an action, so its children's parent id
            # names no action and they show as roots of the tree; this holds even when the
            # spans arrive in different exports.
            "parent_action_id": _span_uuid(trace_id, parent),
            "action_type": _action_type(attrs),
            "name": str(attrs.get("gen_ai.tool.name") or span.name or "span")[:200],
            "status": "failure" if item["error_type"] else "success",
            "attributes": {k: v for k, v in attrs.items() if not k.startswith(_PAYLOAD_KEYS)},
        })  # fmt: skip
    return executions, actions
