"""The agent registry: register, read, list and filter, change, archive; dependency edges."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.support import Tenant, World, assert_error, create_agent, create_version, ok

pytestmark = pytest.mark.integration


def test_a_registered_agent_comes_back_with_its_defaults(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant, name="content-writer")
    assert agent["name"] == "content-writer"
    assert agent["kind"] == "custom"
    assert agent["status"] == "active"
    assert agent["owner"] is None
    assert agent["description"] == ""
    assert agent["config"] == {}
    assert agent["tags"] == []
    assert agent["sla_p95_ms"] is None
    assert agent["current_prompt_version_id"] is None
    assert agent["archived_at"] is None
    assert agent["created_at"] == agent["updated_at"]


def test_every_field_given_at_registration_is_stored(client: TestClient, tenant: Tenant):
    fields = {
        "kind": "classifier",
        "owner": "growth-team",
        "description": "sorts tickets",
        "config": {"temperature": 0.2, "tools": ["search"], "nested": {"depth": [1, {"x": None}]}},
        "tags": ["support", "triage"],
        "sla_p95_ms": 30_000,
    }
    agent = create_agent(client, tenant, **fields)
    stored = ok(client.get(f"/v1/agents/{agent['agent_id']}", headers=tenant.auth("read")))
    assert {k: stored[k] for k in fields} == fields


def test_an_agent_name_is_unique_within_a_tenant(client: TestClient, tenant: Tenant):
    create_agent(client, tenant, name="twin")
    response = client.post("/v1/agents", json={"name": "twin"}, headers=tenant.auth("write"))
    error = assert_error(response, 409, "conflict")
    assert "twin" not in error["message"], "the message names no values"
    assert "agents" not in error["message"], "nor tables"


def test_two_tenants_may_each_have_an_agent_of_the_same_name(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
):
    mine = create_agent(client, tenant, name="shared-name")
    theirs = create_agent(client, other_tenant, name="shared-name")
    assert mine["agent_id"] != theirs["agent_id"]


def test_an_unknown_agent_id_is_not_found(client: TestClient, tenant: Tenant):
    response = client.get(f"/v1/agents/{uuid.uuid4()}", headers=tenant.auth("read"))
    assert assert_error(response, 404, "not_found")["message"] == "agent not found"


def test_listing_leaves_archived_agents_out_unless_they_are_asked_for(
    client: TestClient, tenant: Tenant
):
    kept = create_agent(client, tenant, name="kept")
    gone = create_agent(client, tenant, name="gone")
    ok(client.post(f"/v1/agents/{gone['agent_id']}/archive", headers=tenant.auth("write")))

    def names(query: str = "") -> list[str]:
        page = ok(client.get(f"/v1/agents{query}", headers=tenant.auth("read")))
        return [a["name"] for a in page["items"]]

    assert names() == [kept["name"]]
    assert names("?status=archived") == [gone["name"]]
    assert names("?status=active") == [kept["name"]]


def test_agents_are_listed_by_name(client: TestClient, tenant: Tenant):
    for name in ("charlie", "alpha", "bravo"):
        create_agent(client, tenant, name=name)
    page = ok(client.get("/v1/agents", headers=tenant.auth("read")))
    assert [a["name"] for a in page["items"]] == ["alpha", "bravo", "charlie"]
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=writer", {"blog-writer"}),
        ("tag=content", {"blog-writer", "news-writer"}),
        ("owner=growth", {"news-writer"}),
        ("q=WRITER", {"blog-writer", "news-writer"}),
        ("q=blog&tag=content", {"blog-writer"}),
        ("q=nothing-like-it", set()),
    ],
)
def test_agents_can_be_filtered_by_kind_tag_owner_and_name(
    client: TestClient, tenant: Tenant, query: str, expected: set[str]
):
    create_agent(client, tenant, name="blog-writer", kind="writer", tags=["content"])
    create_agent(client, tenant, name="news-writer", tags=["content", "news"], owner="growth")
    create_agent(client, tenant, name="ticket-sorter", kind="classifier", owner="support")
    page = ok(client.get(f"/v1/agents?{query}", headers=tenant.auth("read")))
    assert {a["name"] for a in page["items"]} == expected


@pytest.mark.parametrize("wildcard", ["%", "_", "\\"])
def test_the_name_search_treats_like_wildcards_as_plain_characters(
    client: TestClient, tenant: Tenant, wildcard: str
):
    create_agent(client, tenant, name=f"a{wildcard}b")
    create_agent(client, tenant, name="axb")
    page = ok(client.get("/v1/agents", params={"q": wildcard}, headers=tenant.auth("read")))
    assert [a["name"] for a in page["items"]] == [f"a{wildcard}b"]


def test_a_change_touches_only_the_fields_it_names(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant, owner="team-a", tags=["x"], sla_p95_ms=1000)
    changed = ok(
        client.patch(
            f"/v1/agents/{agent['agent_id']}",
            json={"description": "now documented", "status": "paused"},
            headers=tenant.auth("write"),
        )
    )
    assert changed["description"] == "now documented"
    assert changed["status"] == "paused"
    untouched = ("name", "kind", "owner", "tags", "sla_p95_ms", "config", "created_at")
    assert {k: changed[k] for k in untouched} == {k: agent[k] for k in untouched}
    assert changed["updated_at"] > agent["updated_at"]


def test_nullable_fields_can_be_cleared_with_null(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant, owner="team-a", sla_p95_ms=1000)
    changed = ok(
        client.patch(
            f"/v1/agents/{agent['agent_id']}",
            json={"owner": None, "sla_p95_ms": None},
            headers=tenant.auth("write"),
        )
    )
    assert changed["owner"] is None
    assert changed["sla_p95_ms"] is None


@pytest.mark.parametrize("field", ["name", "kind", "description", "config", "tags", "status"])
def test_a_required_field_cannot_be_set_to_null(
    client: TestClient, tenant: Tenant, field: str, owner
):
    agent = create_agent(client, tenant)
    response = client.patch(
        f"/v1/agents/{agent['agent_id']}", json={field: None}, headers=tenant.auth("write")
    )
    error = assert_error(response, 422, "invalid_request")
    assert ["body", field] in [d["location"][:2] for d in error["details"]]


def test_an_empty_change_returns_the_agent_unchanged(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    same = ok(
        client.patch(f"/v1/agents/{agent['agent_id']}", json={}, headers=tenant.auth("write"))
    )
    assert same == agent


def test_renaming_onto_another_agents_name_conflicts(client: TestClient, tenant: Tenant):
    create_agent(client, tenant, name="taken")
    agent = create_agent(client, tenant)
    response = client.patch(
        f"/v1/agents/{agent['agent_id']}", json={"name": "taken"}, headers=tenant.auth("write")
    )
    assert_error(response, 409, "conflict")


def test_an_agent_is_archived_only_through_the_archive_operation(
    client: TestClient, tenant: Tenant
):
    agent = create_agent(client, tenant)
    response = client.patch(
        f"/v1/agents/{agent['agent_id']}", json={"status": "archived"}, headers=tenant.auth("write")
    )
    assert_error(response, 422, "invalid_request")


def test_archiving_stamps_the_time_once(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    url = f"/v1/agents/{agent['agent_id']}/archive"
    first = ok(client.post(url, headers=tenant.auth("write")))
    again = ok(client.post(url, headers=tenant.auth("write")))
    assert first["status"] == again["status"] == "archived"
    assert first["archived_at"] is not None
    assert again["archived_at"] == first["archived_at"]


def test_an_archived_agent_cannot_be_changed(client: TestClient, tenant: Tenant, owner):
    agent = create_agent(client, tenant)
    ok(client.post(f"/v1/agents/{agent['agent_id']}/archive", headers=tenant.auth("write")))
    response = client.patch(
        f"/v1/agents/{agent['agent_id']}", json={"status": "active"}, headers=tenant.auth("write")
    )
    assert_error(response, 409, "archived")
    stored = ok(client.get(f"/v1/agents/{agent['agent_id']}", headers=tenant.auth("read")))
    assert stored["status"] == "archived"


def test_an_archived_agent_gets_no_new_prompt_versions(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    version = create_version(client, tenant, agent["agent_id"])
    ok(client.post(f"/v1/agents/{agent['agent_id']}/archive", headers=tenant.auth("write")))
    response = client.post(
        f"/v1/agents/{agent['agent_id']}/prompt-versions",
        json={"template": "late"},
        headers=tenant.auth("write"),
    )
    assert_error(response, 409, "archived")
    response = client.post(
        f"/v1/agents/{agent['agent_id']}/prompt-versions/{version['prompt_version_id']}/current",
        headers=tenant.auth("write"),
    )
    assert_error(response, 409, "archived")


def test_changing_another_tenants_agent_is_not_found_and_leaves_it_alone(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
):
    theirs = create_agent(client, other_tenant, description="theirs")
    response = client.patch(
        f"/v1/agents/{theirs['agent_id']}", json={"description": "mine"}, headers=tenant.auth()
    )
    assert_error(response, 404, "not_found")
    response = client.post(f"/v1/agents/{theirs['agent_id']}/archive", headers=tenant.auth())
    assert_error(response, 404, "not_found")
    stored = ok(client.get(f"/v1/agents/{theirs['agent_id']}", headers=other_tenant.auth()))
    assert stored == theirs


# Dependencies


def _dependencies(client: TestClient, tenant: Tenant, agent_id: object) -> list[dict]:
    return ok(client.get(f"/v1/agents/{agent_id}/dependencies", headers=tenant.auth("read")))


def test_a_declared_dependency_shows_on_both_agents(client: TestClient, tenant: Tenant):
    up, down = create_agent(client, tenant), create_agent(client, tenant)
    edge = ok(
        client.post(
            f"/v1/agents/{up['agent_id']}/dependencies",
            json={"downstream_agent_id": down["agent_id"], "kind": "feeds", "description": "x"},
            headers=tenant.auth("write"),
        ),
        201,
    )
    assert edge["upstream_agent_id"] == up["agent_id"]
    assert edge["downstream_agent_id"] == down["agent_id"]
    assert _dependencies(client, tenant, up["agent_id"]) == [edge]
    assert _dependencies(client, tenant, down["agent_id"]) == [edge]


def test_redeclaring_a_dependency_replaces_its_kind_and_keeps_when_it_was_first_declared(
    client: TestClient, tenant: Tenant
):
    up, down = create_agent(client, tenant), create_agent(client, tenant)
    url = f"/v1/agents/{up['agent_id']}/dependencies"
    body = {"downstream_agent_id": down["agent_id"]}
    first = ok(client.post(url, json=body, headers=tenant.auth("write")), 201)
    second = ok(
        client.post(
            url, json={**body, "kind": "triggers", "description": "on publish"},
            headers=tenant.auth("write"),
        ),
        201,
    )  # fmt: skip
    assert first["kind"] == "calls"
    assert (second["kind"], second["description"]) == ("triggers", "on publish")
    assert second["created_at"] == first["created_at"]
    assert _dependencies(client, tenant, up["agent_id"]) == [second]


def test_an_agent_cannot_depend_on_itself(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    response = client.post(
        f"/v1/agents/{agent['agent_id']}/dependencies",
        json={"downstream_agent_id": agent["agent_id"]},
        headers=tenant.auth("write"),
    )
    assert_error(response, 422, "invalid_request")


def test_a_dependency_on_an_unknown_or_foreign_agent_is_not_found(
    client: TestClient, world: World, other_world: World, owner
):
    for downstream in (uuid.uuid4(), other_world.agent_id):
        response = client.post(
            f"/v1/agents/{world.agent_id}/dependencies",
            json={"downstream_agent_id": str(downstream)},
            headers=world.tenant.auth("write"),
        )
        assert_error(response, 404, "not_found")
    assert len(_dependencies(client, world.tenant, world.agent_id)) == 1


def test_a_removed_dependency_is_gone_and_removing_it_again_is_not_found(
    client: TestClient, world: World
):
    url = f"/v1/agents/{world.agent_id}/dependencies/{world.other_agent_id}"
    response = client.delete(url, headers=world.tenant.auth("write"))
    assert response.status_code == 204
    assert response.content == b""
    assert _dependencies(client, world.tenant, world.agent_id) == []
    assert_error(client.delete(url, headers=world.tenant.auth("write")), 404, "not_found")


def test_the_graph_holds_every_agent_and_every_edge(client: TestClient, world: World):
    graph = ok(client.get("/v1/agents/graph", headers=world.tenant.auth("read")))
    assert {n["agent_id"] for n in graph["nodes"]} == {str(a) for a in world.agent_ids}
    assert [(e["upstream_agent_id"], e["downstream_agent_id"]) for e in graph["edges"]] == [
        (str(world.agent_id), str(world.other_agent_id))
    ]


def test_an_archived_agent_takes_no_new_dependencies(client: TestClient, tenant: Tenant):
    live, archived = create_agent(client, tenant), create_agent(client, tenant)
    client.post(f"/v1/agents/{archived['agent_id']}/archive", headers=tenant.auth("write"))
    for up, down in ((live, archived), (archived, live)):
        response = client.post(
            f"/v1/agents/{up['agent_id']}/dependencies",
            json={"downstream_agent_id": down["agent_id"]},
            headers=tenant.auth("write"),
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "archived"
