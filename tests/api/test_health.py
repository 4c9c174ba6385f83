"""/healthz and /readyz: open to anyone, and saying nothing but whether the service is up."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from meta_agent.connections import ServerUrls
from tests.api.support import assert_error

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic eDp5"}],
    ids=["no key", "bad key", "other scheme"],
)
def test_liveness_needs_no_key_and_says_only_ok(client: TestClient, headers: dict):
    response = client.get("/healthz", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-key"}],
    ids=["no key", "bad key"],
)
def test_readiness_needs_no_key_and_says_only_ready(client: TestClient, headers: dict):
    response = client.get("/readyz", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_health_answers_carry_no_version_or_server_details(client: TestClient):
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert set(response.headers) <= {"content-type", "content-length"}, response.headers


def test_readiness_says_not_ready_without_naming_what_is_down(
    api_settings, urls: ServerUrls, tmp_path
):
    """Redis is away (a socket nobody listens on): 503, and not a word about where or why."""
    missing = f"unix://{tmp_path}/no-redis.sock"
    app = create_app(api_settings, ServerUrls(urls.database_url, urls.app_database_url, missing))
    with TestClient(app) as down:
        response = down.get("/readyz")
        error = assert_error(response, 503, "unavailable")
        assert error == {"code": "unavailable", "message": "not ready", "details": None}
        assert down.get("/healthz").json() == {"status": "ok"}, "alive, just not ready"


def test_only_the_health_routes_are_open(app):
    """Every other operation in the OpenAPI document declares the bearer key."""
    open_paths = set()
    for path, operations in app.openapi()["paths"].items():
        for operation in operations.values():
            if not operation.get("security"):
                open_paths.add(path)
    assert open_paths == {"/healthz", "/readyz"}
