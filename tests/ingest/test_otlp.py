"""OTLP/HTTP: spans from the real opentelemetry-sdk exporter arrive as executions and actions."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from api.app import create_app
from meta_agent.connections import ServerUrls
from meta_agent.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_url(servers: Any, migrated_database: Any) -> Iterator[str]:
    """The API served by uvicorn on a free loopback port, as the exporter needs a real socket."""
    urls = ServerUrls(migrated_database.owner_url, migrated_database.app_url, servers.redis.url())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(load_settings({}), urls), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _export(api_url: str, key: str, json_encoding: bool = False) -> str:
    exporter = OTLPSpanExporter(
        endpoint=f"{api_url}/v1/otlp/v1/traces", headers={"Authorization": f"Bearer {key}"}
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-research-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("invoke_agent research") as root:
        with tracer.start_as_current_span("chat claude") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "claude-sonnet-4-5")
            chat.set_attribute("gen_ai.usage.input_tokens", 1200)
            chat.set_attribute("gen_ai.usage.output_tokens", 300)
            with tracer.start_as_current_span("execute_tool web_search") as tool:
                tool.set_attribute("gen_ai.operation.name", "execute_tool")
                tool.set_attribute("gen_ai.tool.name", "web_search")
                tool.set_status(Status(StatusCode.ERROR, "search backend returned 503"))
                tool.set_attribute("error.type", "ExternalAPIError")
        with tracer.start_as_current_span("retrieve docs") as retrieval:
            retrieval.set_attribute("openinference.span.kind", "RETRIEVER")
        trace_id = root.get_span_context().trace_id
    provider.shutdown()
    return str(uuid.UUID(int=trace_id))


def test_spans_from_the_otel_exporter_become_an_execution_with_an_action_tree(
    api_url, ingest_client, make_tenant
):
    tenant = make_tenant()
    key = tenant.headers["Authorization"].removeprefix("Bearer ")
    execution_id = _export(api_url, key)
    response = ingest_client.get(f"/v1/executions/{execution_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    execution = response.json()
    assert execution["agent_name"] == "otel-research-agent"
    assert execution["status"] == "success"
    roots = {node["name"]: node for node in execution["actions"]}
    assert set(roots) == {"chat claude", "retrieve docs"}
    chat = roots["chat claude"]
    assert (chat["action_type"], chat["model"], chat["input_tokens"], chat["output_tokens"]) == (
        "llm_inference", "claude-sonnet-4-5", 1200, 300,
    )  # fmt: skip
    [tool] = chat["children"]
    assert (tool["action_type"], tool["name"], tool["status"], tool["error_type"]) == (
        "tool_call", "web_search", "failure", "ExternalAPIError",
    )  # fmt: skip
    assert roots["retrieve docs"]["action_type"] == "retrieval"


def test_a_reexported_trace_is_stored_once(api_url, ingest_client, make_tenant):
    tenant = make_tenant()
    key = tenant.headers["Authorization"].removeprefix("Bearer ")
    execution_id = _export(api_url, key)
    page = ingest_client.get("/v1/executions", params={"limit": 50}, headers=tenant.headers).json()
    assert [item["execution_id"] for item in page["items"]] == [execution_id]


def test_otlp_json_and_bad_bodies(ingest_client, make_tenant):
    tenant = make_tenant()
    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    body = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-agent"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": trace_id, "spanId": span_id, "name": "run",
                "startTimeUnixNano": str(time.time_ns() - 1_000_000), "endTimeUnixNano": str(time.time_ns()),
            }]}],
        }]
    }  # fmt: skip
    ok = ingest_client.post("/v1/otlp/v1/traces", json=body, headers=tenant.headers)
    assert ok.json()["accepted"]["executions"] == 1
    bad = ingest_client.post(
        "/v1/otlp/v1/traces", content=b"\x00garbage",
        headers={**tenant.headers, "Content-Type": "application/x-protobuf"},
    )  # fmt: skip
    assert bad.status_code == 422
