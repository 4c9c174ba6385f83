"""POST /v1/ingest: a batch of executions and actions from the SDK (scope `ingest`).

The protocol is in docs/ingest-protocol.md. A bad item rejects only itself; the response
says which, by index, and how many items were replays of ones already stored.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from api.deps import IngestSession
from api.errors import ApiError
from api.ingest import otlp
from api.ingest.items import MAX_ITEMS, BatchIn, validate_batch_json
from api.ingest.pipeline import ingest_items
from api.schemas.common import ErrorResponse
from api.schemas.ingest import IngestBatch, IngestResult

router = APIRouter(tags=["ingest"])

# A gzip bomb must not inflate past this, whatever its compressed size.
MAX_INFLATED_BYTES = 64 * 1024 * 1024


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """The body as sent before Content-Encoding: gzip is inflated, with a ceiling."""
    if not body:
        raise ApiError(422, "the request body is empty")
    if encoding is None or encoding.lower() in ("", "identity"):
        return body
    if encoding.lower() != "gzip":
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        inflated = inflater.decompress(body, MAX_INFLATED_BYTES)
    except zlib.error:
        raise ApiError(422, "the body is not valid gzip") from None
    if inflater.unconsumed_tail:
        raise ApiError(413, f"the body inflates to more than {MAX_INFLATED_BYTES} bytes")
    return inflated


def _sdk_version(sdk: dict[str, Any] | None) -> str | None:
    version = (sdk or {}).get("version")
    return version[:50] if isinstance(version, str) else None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "the body is not valid JSON") from None


_RESPONSES: dict[int | str, dict[str, Any]] = {
    415: {"model": ErrorResponse, "description": "Unsupported Content-Encoding or Content-Type"},
}


@router.post(
    "/ingest",
    response_model=IngestResult,
    responses=_RESPONSES,
    summary="Store a batch of executions and actions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": IngestBatch.model_json_schema()}},
        }
    },
)
async def ingest(request: Request, session: IngestSession) -> IngestResult:
    body = decode_body(await request.body(), request.headers.get("content-encoding"))
    batch: BatchIn | IngestBatch | None = validate_batch_json(body)
    if batch is None:  # some item is bad, or the body is no batch at all: find out which
        try:
            batch = IngestBatch.model_validate(_json(body))
        except ValidationError as exc:
            details = [{"location": list(e["loc"]), "message": e["msg"]} for e in exc.errors()[:5]]
            raise ApiError(422, "the body is not an ingest batch", details=details) from None
    if len(batch.executions) + len(batch.actions) > MAX_ITEMS:
        raise ApiError(413, f"a batch holds at most {MAX_ITEMS} items; split it")
    return await ingest_items(
        session,
        request.app.state.redis,
        executions=batch.executions,
        actions=batch.actions,
        sdk_version=_sdk_version(batch.sdk),
        prevalidated=isinstance(batch, BatchIn),
    )


@router.post(
    "/otlp/v1/traces",
    response_model=IngestResult,
    responses=_RESPONSES,
    summary="OTLP/HTTP traces (protobuf or JSON), mapped onto executions and actions",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def otlp_traces(request: Request, session: IngestSession) -> IngestResult:
    # Content-Type and -Encoding are read, not declared: the request body's media types and
    # the 415 answer document them, and a declared free-text header would invite any value.
    body = decode_body(await request.body(), request.headers.get("content-encoding"))
    content_type = request.headers.get("content-type", "application/x-protobuf")
    message = otlp.parse_request(body, content_type)
    executions, actions = otlp.to_items(message)
    if len(executions) + len(actions) > MAX_ITEMS:
        raise ApiError(413, f"an export holds at most {MAX_ITEMS} spans; lower the batch size")
    return await ingest_items(
        session, request.app.state.redis, executions=executions, actions=actions, sdk_version="otlp"
    )
