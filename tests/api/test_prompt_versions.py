"""Prompt versions: numbered per agent, descending from the current one, one active at a time,
diffable against any other version of the tenant."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from tests.api.support import (
    Tenant,
    World,
    assert_error,
    create_agent,
    create_version,
    ok,
    snapshot,
)

pytestmark = pytest.mark.integration


def _current(client: TestClient, tenant: Tenant, agent_id: str, version_id: str) -> dict:
    url = f"/v1/agents/{agent_id}/prompt-versions/{version_id}/current"
    return ok(client.post(url, headers=tenant.auth("write")))


def test_versions_are_numbered_from_one_per_agent(client: TestClient, tenant: Tenant):
    first, second = create_agent(client, tenant), create_agent(client, tenant)
    numbers = [create_version(client, tenant, first["agent_id"])["version"] for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert create_version(client, tenant, second["agent_id"])["version"] == 1


def test_a_new_version_is_a_draft_with_everything_it_was_given(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    fields = {
        "template": "You are careful.\nTopic: {topic}",
        "variables": ["topic"],
        "model": "claude-sonnet-4-5",
        "parameters": {"temperature": 0.3},
        "author": "ana",
        "change_summary": "first cut",
    }
    version = create_version(client, tenant, agent["agent_id"], **fields)
    assert {k: version[k] for k in fields} == fields
    assert version["status"] == "draft"
    assert version["source"] == "manual"
    assert version["is_current"] is False
    assert version["parent_version_id"] is None
    fetched = ok(
        client.get(f"/v1/prompt-versions/{version['prompt_version_id']}", headers=tenant.auth())
    )
    assert fetched == version


def test_a_new_version_descends_from_the_current_one_unless_told_otherwise(
    client: TestClient, tenant: Tenant
):
    agent = create_agent(client, tenant)
    v1 = create_version(client, tenant, agent["agent_id"])
    assert create_version(client, tenant, agent["agent_id"])["parent_version_id"] is None
    _current(client, tenant, agent["agent_id"], v1["prompt_version_id"])
    v3 = create_version(client, tenant, agent["agent_id"])
    assert v3["parent_version_id"] == v1["prompt_version_id"]
    v4 = create_version(
        client, tenant, agent["agent_id"], parent_version_id=v3["prompt_version_id"]
    )
    assert v4["parent_version_id"] == v3["prompt_version_id"]


def test_making_a_version_current_activates_it_and_retires_the_one_before(
    client: TestClient, tenant: Tenant
):
    agent = create_agent(client, tenant)
    v1 = create_version(client, tenant, agent["agent_id"])
    v2 = create_version(client, tenant, agent["agent_id"])
    made = _current(client, tenant, agent["agent_id"], v1["prompt_version_id"])
    assert (made["status"], made["is_current"]) == ("active", True)
    made = _current(client, tenant, agent["agent_id"], v2["prompt_version_id"])
    assert (made["status"], made["is_current"]) == ("active", True)
    before = ok(client.get(f"/v1/prompt-versions/{v1['prompt_version_id']}", headers=tenant.auth()))
    assert (before["status"], before["is_current"]) == ("retired", False)
    stored = ok(client.get(f"/v1/agents/{agent['agent_id']}", headers=tenant.auth()))
    assert stored["current_prompt_version_id"] == v2["prompt_version_id"]


def test_making_the_current_version_current_again_changes_nothing(
    client: TestClient, tenant: Tenant
):
    agent = create_agent(client, tenant)
    v1 = create_version(client, tenant, agent["agent_id"])
    first = _current(client, tenant, agent["agent_id"], v1["prompt_version_id"])
    assert _current(client, tenant, agent["agent_id"], v1["prompt_version_id"]) == first


def test_a_version_of_another_agent_cannot_be_made_current(client: TestClient, tenant: Tenant):
    agent, other = create_agent(client, tenant), create_agent(client, tenant)
    theirs = create_version(client, tenant, other["agent_id"])
    url = f"/v1/agents/{agent['agent_id']}/prompt-versions/{theirs['prompt_version_id']}/current"
    assert_error(client.post(url, headers=tenant.auth("write")), 404, "not_found")


def test_a_parent_that_is_not_a_version_of_this_agent_is_not_found_wherever_it_lives(
    client: TestClient, world: World, other_world: World, owner
):
    """Another agent's version, another tenant's version and a made-up id get one answer."""
    tenant = world.tenant
    sibling = create_version(client, tenant, world.other_agent_id)["prompt_version_id"]
    before = snapshot(owner)
    answers = set()
    for parent in (sibling, other_world.prompt_version_id, uuid.uuid4()):
        response = client.post(
            f"/v1/agents/{world.agent_id}/prompt-versions",
            json={"template": "x", "parent_version_id": str(parent)},
            headers=tenant.auth("write"),
        )
        answers.add(response.text)
    assert len(answers) == 1
    assert assert_error(response, 404, "not_found")["message"] == "parent prompt version not found"
    assert snapshot(owner) == before


def test_versions_are_listed_newest_first_and_page_by_version(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    for _ in range(5):
        create_version(client, tenant, agent["agent_id"])
    url = f"/v1/agents/{agent['agent_id']}/prompt-versions"
    first = ok(client.get(url, params={"limit": 3}, headers=tenant.auth("read")))
    assert [v["version"] for v in first["items"]] == [5, 4, 3]
    rest = ok(
        client.get(
            url, params={"limit": 3, "cursor": first["next_cursor"]}, headers=tenant.auth("read")
        )
    )
    assert [v["version"] for v in rest["items"]] == [2, 1]
    assert rest["next_cursor"] is None


def test_listing_the_versions_of_an_unknown_agent_is_not_found(client: TestClient, tenant: Tenant):
    url = f"/v1/agents/{uuid.uuid4()}/prompt-versions"
    assert_error(client.get(url, headers=tenant.auth("read")), 404, "not_found")


def test_concurrent_new_versions_get_consecutive_numbers(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = list(
            pool.map(lambda _: create_version(client, tenant, agent["agent_id"]), range(12))
        )
    assert sorted(v["version"] for v in versions) == list(range(1, 13))


def test_the_diff_shows_the_template_change_and_every_other_changed_field(
    client: TestClient, tenant: Tenant
):
    agent = create_agent(client, tenant)
    base = create_version(
        client, tenant, agent["agent_id"], template="line one\nline two\n", model="small"
    )
    target = create_version(
        client, tenant, agent["agent_id"], template="line one\nline 2\n", model="large",
        parameters={"temperature": 0.1},
    )  # fmt: skip
    diff = ok(
        client.get(
            f"/v1/prompt-versions/{target['prompt_version_id']}/diff",
            params={"against": base["prompt_version_id"]},
            headers=tenant.auth("read"),
        )
    )
    assert (diff["base_version"], diff["target_version"]) == (1, 2)
    assert (diff["base_version_id"], diff["target_version_id"]) == (
        base["prompt_version_id"],
        target["prompt_version_id"],
    )
    assert "--- v1" in diff["template_diff"]
    assert "+++ v2" in diff["template_diff"]
    assert "-line two\n" in diff["template_diff"]
    assert "+line 2\n" in diff["template_diff"]
    assert diff["changes"] == [
        {"field": "model", "before": "small", "after": "large"},
        {"field": "parameters", "before": {}, "after": {"temperature": 0.1}},
    ]


def test_a_version_diffed_against_itself_has_no_changes(client: TestClient, world: World):
    version = world.prompt_version_id
    diff = ok(
        client.get(
            f"/v1/prompt-versions/{version}/diff",
            params={"against": str(version)},
            headers=world.tenant.auth("read"),
        )
    )
    assert diff["template_diff"] == ""
    assert diff["changes"] == []


def test_a_diff_against_another_tenants_version_is_not_found(
    client: TestClient, world: World, other_world: World
):
    response = client.get(
        f"/v1/prompt-versions/{world.prompt_version_id}/diff",
        params={"against": str(other_world.prompt_version_id)},
        headers=world.tenant.auth("read"),
    )
    assert_error(response, 404, "not_found")


def test_a_version_of_another_tenant_cannot_be_made_current_for_my_agent(
    client: TestClient, world: World, other_world: World, owner
):
    url = f"/v1/agents/{world.agent_id}/prompt-versions/{other_world.prompt_version_id}/current"
    assert_error(client.post(url, headers=world.tenant.auth("write")), 404, "not_found")
    theirs = ok(
        client.get(
            f"/v1/prompt-versions/{other_world.prompt_version_id}",
            headers=other_world.tenant.auth(),
        )
    )
    assert theirs["status"] == "draft"
