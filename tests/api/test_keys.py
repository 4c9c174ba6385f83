"""API keys through the API: issued once, listed without secrets, revoked for good (admin)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.support import Tenant, assert_error, ok

pytestmark = pytest.mark.integration


def _issue(client: TestClient, tenant: Tenant, **body) -> dict:
    return ok(client.post("/v1/keys", json={"name": "ci", **body}, headers=tenant.auth()), 201)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_issued_key_is_shown_once_and_works_with_its_scopes(client: TestClient, tenant: Tenant):
    issued = _issue(client, tenant, scopes=["read"])
    assert issued["key"].startswith(issued["prefix"] + "_")
    assert issued["created_by"] == f"key:{tenant.keys['admin'].api_key_id}"
    assert ok(client.get("/v1/agents", headers=_bearer(issued["key"])))["items"] == []
    response = client.post("/v1/agents", json={"name": "x"}, headers=_bearer(issued["key"]))
    assert_error(response, 403, "forbidden")

    listed = ok(client.get("/v1/keys", headers=tenant.auth()))
    (entry,) = [k for k in listed if k["api_key_id"] == issued["api_key_id"]]
    assert "key" not in entry
    assert "key_hash" not in entry
    assert issued["key"] not in str(listed)


def test_the_key_list_shows_every_key_of_the_tenant_in_issue_order(
    client: TestClient, tenant: Tenant
):
    issued = _issue(client, tenant, scopes=["write"])
    listed = ok(client.get("/v1/keys", headers=tenant.auth()))
    assert [k["name"] for k in listed] == [
        "ingest-key", "read-key", "write-key", "admin-key", "ci",
    ]  # fmt: skip
    assert listed[-1]["api_key_id"] == issued["api_key_id"]
    assert listed[-1]["scopes"] == ["write"]


def test_repeated_scopes_are_stored_once(client: TestClient, tenant: Tenant):
    issued = _issue(client, tenant, scopes=["write", "read", "write"])
    assert issued["scopes"] == ["read", "write"]


def test_a_revoked_key_is_refused_from_then_on(client: TestClient, tenant: Tenant):
    issued = _issue(client, tenant, scopes=["read"])
    revoked = ok(client.post(f"/v1/keys/{issued['api_key_id']}/revoke", headers=tenant.auth()))
    assert revoked["revoked_at"] is not None
    assert revoked["revoked_by"] == f"key:{tenant.keys['admin'].api_key_id}"
    assert_error(client.get("/v1/agents", headers=_bearer(issued["key"])), 401, "unauthenticated")


def test_revoking_twice_keeps_the_first_revocation(client: TestClient, tenant: Tenant):
    issued = _issue(client, tenant, scopes=["read"])
    url = f"/v1/keys/{issued['api_key_id']}/revoke"
    first = ok(client.post(url, headers=tenant.auth()))
    again = ok(client.post(url, headers=tenant.auth()))
    assert again["revoked_at"] == first["revoked_at"]


def test_an_expired_key_is_refused(client: TestClient, tenant: Tenant):
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    live = _issue(client, tenant, scopes=["read"], expires_at=soon.isoformat())
    assert ok(client.get("/v1/overview", headers=_bearer(live["key"])))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    expired = _issue(client, tenant, scopes=["read"], expires_at=past.isoformat())
    assert_error(client.get("/v1/overview", headers=_bearer(expired["key"])), 401)


def test_a_key_is_refused_with_unknown_or_no_scopes(client: TestClient, tenant: Tenant, owner):
    for scopes in ([], ["superuser"], "read"):
        response = client.post(
            "/v1/keys", json={"name": "bad", "scopes": scopes}, headers=tenant.auth()
        )
        assert_error(response, 422, "invalid_request")


def test_revoking_an_unknown_key_is_not_found(client: TestClient, tenant: Tenant):
    response = client.post(f"/v1/keys/{uuid.uuid4()}/revoke", headers=tenant.auth())
    assert assert_error(response, 404, "not_found")["message"] == "API key not found"


def test_another_tenants_key_can_be_neither_listed_nor_revoked(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
):
    theirs = other_tenant.keys["read"]
    listed = ok(client.get("/v1/keys", headers=tenant.auth()))
    assert str(theirs.api_key_id) not in {k["api_key_id"] for k in listed}
    response = client.post(f"/v1/keys/{theirs.api_key_id}/revoke", headers=tenant.auth())
    assert_error(response, 404, "not_found")
    assert ok(client.get("/v1/overview", headers=_bearer(theirs.key)))
