"""Bad input of every kind gets a clear error in the common format, never a 500, and writes
nothing: oversize bodies, malformed JSON, wrong types, unknown fields, awkward Unicode, huge
strings in filters, silly page sizes and tampered cursors."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.body_limit import BodySizeLimit
from meta_agent.settings import Settings
from tests.api.support import Tenant, World, assert_error, create_agent, ok, snapshot

pytestmark = pytest.mark.integration

LIMIT = 2048


@pytest.fixture
def refused(client: TestClient, owner) -> Callable[..., dict[str, Any]]:
    """Send a request that must fail with `status`; check the format and that nothing changed."""

    def send(status: int, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        before = snapshot(owner)
        response = client.request(method, url, **kwargs)
        error = assert_error(response, status)
        assert snapshot(owner) == before, f"{method} {url} wrote something"
        return error

    return send


def _write_routes(world: World) -> list[tuple[str, str]]:
    return [
        ("POST", "/v1/agents"),
        ("PATCH", f"/v1/agents/{world.agent_id}"),
        ("POST", f"/v1/agents/{world.agent_id}/dependencies"),
        ("POST", f"/v1/agents/{world.agent_id}/prompt-versions"),
        ("POST", "/v1/keys"),
    ]


# Oversize bodies


@pytest.fixture(scope="module")
def small_client(build_app) -> Iterator[TestClient]:
    settings = Settings.model_validate({"api_max_body_bytes": LIMIT})
    with TestClient(build_app(settings)) as test_client:
        yield test_client


def _oversize_agent() -> bytes:
    return json.dumps({"name": "big", "description": "x" * (LIMIT * 2)}).encode()


def test_a_body_declared_larger_than_the_limit_is_refused_with_413(
    small_client: TestClient, tenant: Tenant, owner
):
    before = snapshot(owner)
    body = _oversize_agent()
    response = small_client.post(
        "/v1/agents",
        content=body,
        headers={**tenant.auth(), "Content-Type": "application/json"},
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": LIMIT}
    assert str(LIMIT) in error["message"]
    assert snapshot(owner) == before


def test_a_chunked_body_without_a_length_is_refused_with_413_too(
    small_client: TestClient, tenant: Tenant, owner
):
    body = _oversize_agent()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    before = snapshot(owner)
    response = small_client.post(
        "/v1/agents",
        content=chunks(),
        headers={**tenant.auth(), "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "payload_too_large")
    assert snapshot(owner) == before


def test_a_chunked_body_within_the_limit_arrives_whole(small_client: TestClient, tenant: Tenant):
    body = json.dumps({"name": "chunked", "description": "y" * 1500}).encode()
    response = small_client.post(
        "/v1/agents",
        content=iter([body[:700], body[700:]]),
        headers={**tenant.auth(), "Content-Type": "application/json"},
    )
    assert ok(response, 201)["description"] == "y" * 1500


async def _send_in_chunks(chunks: list[bytes], max_bytes: int) -> tuple[list[dict], bytes | None]:
    """Drive BodySizeLimit by hand with one ASGI message per chunk and no Content-Length; return
    what went out and what the app behind it read (None: the app was never called)."""
    read: list[bytes] = []
    called = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal called
        called = True
        while True:
            message = await receive()
            read.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    await BodySizeLimit(app, max_bytes=max_bytes)(scope, receive, send)
    return sent, b"".join(read) if called else None


def test_a_body_streamed_past_the_limit_never_reaches_the_app():
    sent, read = asyncio.run(_send_in_chunks([b"a" * 600] * 4, max_bytes=LIMIT))
    assert read is None
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"


def test_a_body_streamed_within_the_limit_reaches_the_app_whole():
    chunks = [b"a" * 500, b"b" * 500, b"c" * 500]
    sent, read = asyncio.run(_send_in_chunks(chunks, max_bytes=LIMIT))
    assert read == b"".join(chunks)
    assert sent[0]["status"] == 204


def test_a_body_exactly_at_the_limit_is_accepted(small_client: TestClient, tenant: Tenant):
    padding = LIMIT - len(json.dumps({"name": "edge", "description": ""}).encode())
    body = json.dumps({"name": "edge", "description": "z" * padding}).encode()
    assert len(body) == LIMIT
    response = small_client.post(
        "/v1/agents", content=body, headers={**tenant.auth(), "Content-Type": "application/json"}
    )
    ok(response, 201)


# Malformed JSON, wrong types, unknown fields


@pytest.mark.parametrize(
    "raw",
    [b'{"name": ', b"{'name': 'single quotes'}", b'{"name": "x",}', b"\xff\xfe{}", b"NaN"],
    ids=["truncated", "single-quotes", "trailing-comma", "utf16-bom", "bare-nan"],
)
def test_malformed_json_is_refused_on_every_write(refused, world: World, raw: bytes):
    for method, url in _write_routes(world):
        error = refused(
            422, method, url, content=raw,
            headers={**world.tenant.auth(), "Content-Type": "application/json"},
        )  # fmt: skip
        assert error["code"] == "invalid_request"


def test_a_body_that_is_not_utf8_cannot_be_read(refused, world: World):
    for method, url in _write_routes(world):
        error = refused(
            400, method, url, content=b'{"name": "\xc3\x28"}',
            headers={**world.tenant.auth(), "Content-Type": "application/json"},
        )  # fmt: skip
        assert error["code"] == "bad_request"


@pytest.mark.parametrize(
    "body", [[], "a string", 42, None], ids=["array", "string", "number", "null"]
)
def test_a_body_that_is_not_an_object_is_refused_on_every_write(refused, world: World, body):
    for method, url in _write_routes(world):
        refused(
            422, method, url, content=json.dumps(body),
            headers={**world.tenant.auth(), "Content-Type": "application/json"},
        )  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5},
        {"name": ["a"]},
        {"name": "x", "tags": "not-a-list"},
        {"name": "x", "tags": [1, 2]},
        {"name": "x", "config": ["not", "an", "object"]},
        {"name": "x", "config": "{}"},
        {"name": "x", "sla_p95_ms": "fast"},
        {"name": "x", "sla_p95_ms": 0},
        {"name": "x", "sla_p95_ms": 1.5},
        {"name": "x", "sla_p95_ms": 10**20},
        {"name": "x", "kind": "robot"},
        {"name": ""},
        {"name": "x" * 201},
        {},
    ],
)
def test_wrong_types_and_values_are_refused(refused, tenant: Tenant, body):
    error = refused(422, "POST", "/v1/agents", json=body, headers=tenant.auth())
    assert error["details"][0]["location"][0] == "body"


def test_nan_and_infinity_cannot_reach_the_database(refused, tenant: Tenant):
    for raw in ('{"name": "x", "config": {"a": NaN}}', '{"name": "x", "config": {"a": 1e999}}'):
        refused(
            422, "POST", "/v1/agents", content=raw,
            headers={**tenant.auth(), "Content-Type": "application/json"},
        )  # fmt: skip


def test_json_nested_too_deep_is_refused(refused, tenant: Tenant):
    deep: Any = {}
    for _ in range(40):
        deep = {"d": deep}
    refused(422, "POST", "/v1/agents", json={"name": "x", "config": deep}, headers=tenant.auth())


def test_unknown_fields_are_refused_on_every_write_not_ignored(refused, world: World):
    for method, url in _write_routes(world):
        error = refused(
            422, method, url, json={"name": "x", "template": "t", "scopes": ["read"],
                                    "downstream_agent_id": str(world.other_agent_id),
                                    "naem": "typo"},
            headers=world.tenant.auth(),
        )  # fmt: skip
        assert any(d["type"] == "extra_forbidden" for d in error["details"]), error


def test_a_write_without_a_json_content_type_is_refused(refused, tenant: Tenant):
    refused(
        422, "POST", "/v1/agents", content=b"name=form-encoded",
        headers={**tenant.auth(), "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip


# Unicode


@pytest.mark.parametrize(
    "raw_name",
    [
        '"nul\\u0000inside"',
        '"lone \\ud800 surrogate"',
        '"\\udfff"',
        '"pair reversed \\udc00\\ud800"',
    ],
    ids=["nul", "lone-high-surrogate", "lone-low-surrogate", "reversed-pair"],
)
def test_text_that_postgres_cannot_store_is_refused_by_field(refused, tenant: Tenant, raw_name):
    raw = f'{{"name": {raw_name}}}'
    error = refused(
        422, "POST", "/v1/agents", content=raw,
        headers={**tenant.auth(), "Content-Type": "application/json"},
    )  # fmt: skip
    assert error["details"][0]["location"] == ["body", "name"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "x", "config": {"k": "\\u0000"}}',
        '{"name": "x", "config": {"\\ud800": 1}}',
        '{"name": "x", "tags": ["\\ud83d"]}',
        '{"name": "x", "\\ud800": 1}',
        '{"name": "x", "nul\\u0000key": 1}',
    ],
    ids=["nul-in-json-value", "surrogate-json-key", "surrogate-tag", "surrogate-unknown-field",
         "nul-unknown-field"],
)  # fmt: skip
def test_unstorable_text_anywhere_in_the_body_is_refused(refused, tenant: Tenant, raw: str):
    refused(
        422, "POST", "/v1/agents", content=raw,
        headers={**tenant.auth(), "Content-Type": "application/json"},
    )  # fmt: skip


@pytest.mark.parametrize(
    "name",
    [
        "🤖 writer 🚀",
        "כותב תוכן",
        "مساعد",
        "e\u0301 combining",
        "\u202eevil-rtl-override",
        "\u3000",
    ],
    ids=["emoji", "hebrew", "arabic", "combining", "rtl-override", "ideographic-space"],
)
def test_any_storable_unicode_round_trips_exactly(client: TestClient, tenant: Tenant, name):
    agent = create_agent(client, tenant, name=name, tags=[name], config={name: name})
    stored = ok(client.get(f"/v1/agents/{agent['agent_id']}", headers=tenant.auth()))
    assert (stored["name"], stored["tags"], stored["config"]) == (name, [name], {name: name})
    found = ok(client.get("/v1/agents", params={"q": name}, headers=tenant.auth()))
    assert [a["name"] for a in found["items"]] == [name]


# Filters


def _list_urls(world: World) -> list[str]:
    return [
        "/v1/agents",
        f"/v1/agents/{world.agent_id}/prompt-versions",
        "/v1/executions",
    ]


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/v1/agents", "q"),
        ("/v1/agents", "tag"),
        ("/v1/agents", "owner"),
        ("/v1/executions", "variant"),
        ("/v1/executions", "error_type"),
        ("/v1/executions", "session_id"),
    ],
)
@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("nul\x00byte", 422),
        ("x" * 10_000, 422),
        ("🤖", 200),
        ("שלום", 200),
        ("\u202e", 200),
        ("%_\\", 200),
    ],
    ids=["nul", "huge", "emoji", "rtl", "rtl-override", "wildcards"],
)
def test_text_filters_refuse_nul_and_huge_strings_and_accept_any_other_text(
    client: TestClient, refused, tenant: Tenant, url: str, param: str, value: str, status: int
):
    if status == 200:
        page = ok(client.get(url, params={param: value}, headers=tenant.auth()))
        assert page["items"] == []
    else:
        refused(status, "GET", url, params={param: value}, headers=tenant.auth())


@pytest.mark.parametrize("encoded", ["%ED%A0%80", "%C0%80", "%FF", "%F0%9F%A4"], ids=str)
def test_invalid_utf8_in_a_query_string_is_not_a_server_error(
    client: TestClient, tenant: Tenant, encoded: str
):
    """A lone surrogate (CESU-8), overlong NUL, or a truncated sequence in a URL."""
    for url in (f"/v1/agents?q={encoded}", f"/v1/executions?variant={encoded}"):
        response = client.get(url, headers=tenant.auth())
        assert response.status_code in (200, 422), response.text
        if response.status_code == 422:
            assert_error(response, 422, "invalid_request")


@pytest.mark.parametrize("limit", ["0", "-1", "501", str(10**30), "ten", "1.5", "", "1e3"], ids=str)
def test_a_page_size_outside_1_to_500_is_refused_on_every_list(refused, world: World, limit: str):
    for url in _list_urls(world):
        error = refused(422, "GET", f"{url}?limit={limit}", headers=world.tenant.auth())
        assert error["details"][0]["location"] == ["query", "limit"]


@pytest.mark.parametrize("limit", ["1", "500"])
def test_page_sizes_at_the_bounds_are_accepted(client: TestClient, world: World, limit: str):
    for url in _list_urls(world):
        ok(client.get(f"{url}?limit={limit}", headers=world.tenant.auth()))


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


TAMPERED = {
    "not-base64": "!!!",
    "not-json": base64.urlsafe_b64encode(b"{not json").decode(),
    "not-a-list": _cursor({"a": 1}),
    "empty-list": _cursor([]),
    "too-long": _cursor(["a", "b", "c"]),
    "numbers": _cursor([1, 2]),
    "booleans": _cursor([True, False]),
    "nulls": _cursor([None, None]),
    "objects": _cursor([{"a": 1}, {"b": 2}]),
    "lists": _cursor([["a"], ["b"]]),
    "not-a-uuid": _cursor(["name", "not-a-uuid"]),
    "nul": _cursor(["\x00", "00000000-0000-0000-0000-000000000000"]),
    "surrogate": base64.urlsafe_b64encode(b'["\\ud800", "\\ud800"]').decode(),
    "huge-number": _cursor([10**40, 10**40]),
    "nan": base64.urlsafe_b64encode(b"[NaN, NaN]").decode(),
    "one-bool": _cursor([True]),
    "one-string": _cursor(["3"]),
    "one-float": _cursor([1.5]),
    "too-big": "A" * 1001,
}


@pytest.mark.parametrize("cursor", TAMPERED.values(), ids=TAMPERED.keys())
def test_a_tampered_cursor_is_refused_on_every_list(refused, world: World, cursor: str):
    for url in _list_urls(world):
        error = refused(422, "GET", url, params={"cursor": cursor}, headers=world.tenant.auth())
        assert "cursor" in error["message"] or error["details"], error


def test_huge_ids_and_dates_in_filters_are_refused(refused, tenant: Tenant):
    for params in (
        {"agent_id": "1" * 10_000},
        {"since": "9" * 10_000},
        {"since": "2026-13-45T00:00:00Z"},
        {"until": "yesterday"},
        {"status": "exploded"},
    ):
        refused(422, "GET", "/v1/executions", params=params, headers=tenant.auth())


def test_a_path_with_a_malformed_id_names_nothing(refused, tenant: Tenant):
    for url in ("/v1/agents/42", "/v1/agents/%00", "/v1/executions/" + "f" * 5000):
        refused(404, "GET", url, headers=tenant.auth())


def test_an_id_in_a_path_may_be_upper_case_or_without_hyphens(client: TestClient, world: World):
    for spelling in (str(world.agent_id).upper(), world.agent_id.hex):
        agent = ok(client.get(f"/v1/agents/{spelling}", headers=world.tenant.auth()))
        assert agent["agent_id"] == str(world.agent_id)


def test_the_graph_path_is_never_taken_for_an_agent_id(client: TestClient, tenant: Tenant):
    response = client.patch("/v1/agents/graph", json={"name": "x"}, headers=tenant.auth())
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("/v1/keys", "GET, POST"),
        ("/v1/agents", "GET, POST"),
        ("/v1/agents/00000000-0000-0000-0000-000000000000", "GET, PATCH"),
        ("/v1/agents/00000000-0000-0000-0000-000000000000/dependencies", "GET, POST"),
        ("/v1/overview", "GET"),
    ],
)
def test_a_405_names_every_method_the_path_answers_to(
    client: TestClient, tenant: Tenant, url: str, allowed: str
):
    response = client.request("OPTIONS", url, headers=tenant.auth())
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


def test_an_unknown_route_and_an_unknown_method_answer_in_the_common_format(
    client: TestClient, tenant: Tenant
):
    assert_error(client.get("/v1/nothing-here", headers=tenant.auth()), 404, "not_found")
    response = client.put("/v1/agents", headers=tenant.auth())
    assert_error(response, 405, "method_not_allowed")
