"""What holds for every route: it works, it wants the right key, it hides other tenants, it
refuses bad input in the common error format, and a refusal writes nothing."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.routes import (
    AUTHENTICATED,
    ELSEWHERE,
    LACKING,
    ROUTES,
    WITH_IDS,
    WITH_INPUT,
    Route,
    route_id,
)
from tests.api.support import World, assert_error, snapshot

pytestmark = pytest.mark.integration

by_route = pytest.mark.parametrize("route", ROUTES, ids=route_id)
by_authenticated_route = pytest.mark.parametrize("route", AUTHENTICATED, ids=route_id)


def test_every_route_of_the_app_is_in_the_route_table(app: FastAPI):
    served = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert served - ELSEWHERE == {route.name for route in ROUTES}


@by_route
def test_a_valid_request_with_the_right_key_succeeds(route: Route, client: TestClient, world):
    headers = world.tenant.auth(route.scope) if route.scope else {}
    response = route.valid(world).send(client, headers)
    assert response.status_code == route.status, response.text
    if route.status != 204:
        assert response.headers["content-type"] == "application/json"


@by_route
def test_the_admin_key_may_do_everything(route: Route, client: TestClient, world: World):
    response = route.valid(world).send(client, world.tenant.auth("admin"))
    assert response.status_code == route.status, response.text


UNAUTHENTICATED = {
    "no header": None,
    "empty header": "",
    "scheme without key": "Bearer",
    "blank key": "Bearer ",
    "another scheme": "Basic dXNlcjpwYXNz",
    "unknown key": "Bearer ma_00000000_unknown-key",
    "overlong key": "Bearer " + "x" * 201,
}


@by_authenticated_route
def test_a_request_without_a_valid_key_is_unauthenticated(
    route: Route, client: TestClient, world: World, owner
):
    for case, authorization in UNAUTHENTICATED.items():
        headers = {} if authorization is None else {"Authorization": authorization}
        before = snapshot(owner)
        response = route.valid(world).send(client, headers)
        error = assert_error(response, 401, "unauthenticated")
        assert "key" in error["message"], case
        assert snapshot(owner) == before, case


@by_authenticated_route
def test_a_key_without_the_needed_scope_is_forbidden(
    route: Route, client: TestClient, world: World, owner
):
    assert route.scope is not None
    for held in LACKING[route.scope]:
        before = snapshot(owner)
        response = route.valid(world).send(client, world.tenant.auth(held))
        error = assert_error(response, 403, "forbidden")
        assert route.scope in error["message"]
        assert snapshot(owner) == before


@pytest.mark.parametrize("route", WITH_IDS, ids=route_id)
def test_another_tenants_ids_are_not_found(
    route: Route, client: TestClient, world: World, other_world: World, owner
):
    """Tenant A naming tenant B's resources gets the answer a random id gets: 404."""
    before = snapshot(owner)
    response = route.valid(other_world).send(client, world.tenant.auth("admin"))
    assert_error(response, 404, "not_found")
    assert snapshot(owner) == before


@pytest.mark.parametrize("route", WITH_INPUT, ids=route_id)
def test_invalid_input_is_refused_and_nothing_is_written(
    route: Route, client: TestClient, world: World, owner
):
    assert route.invalid is not None
    before = snapshot(owner)
    response = route.invalid(world).send(client, world.tenant.auth("admin"))
    if route.invalid_status == 422:
        error = assert_error(response, 422, "invalid_request")
        assert error["details"], "a validation error says which field is wrong"
    else:  # a malformed id in the path: a URL that names nothing
        assert_error(response, 404, "not_found")
    assert snapshot(owner) == before


def test_every_route_that_takes_input_has_an_invalid_case():
    """Only routes that take no path, query or body at all may lack one."""
    no_input = {r.name for r in ROUTES if r.invalid is None}
    assert no_input == {
        "GET /healthz",
        "GET /readyz",
        "GET /v1/agents/graph",
        "GET /v1/overview",
        "GET /v1/keys",
        "GET /v1/notification-channels",
        "GET /v1/alert-routes",
        "GET /v1/alert-settings",
    }
