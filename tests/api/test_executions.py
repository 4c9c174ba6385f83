"""Execution history: newest first, filtered, and one execution with its actions as a tree."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient

from tests.api.support import Tenant, World, assert_error, create_agent, insert_execution, ok

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _ids(page: dict) -> list[str]:
    return [e["execution_id"] for e in page["items"]]


def test_executions_are_listed_newest_first_with_their_agent_name(
    client: TestClient, tenant: Tenant, owner
):
    agent = create_agent(client, tenant, name="lister")
    ids = [
        insert_execution(owner, tenant, agent["agent_id"], started_at=NOW - dt.timedelta(hours=h))
        for h in (3, 1, 2)
    ]
    page = ok(client.get("/v1/executions", headers=tenant.auth("read")))
    assert _ids(page) == [str(ids[1]), str(ids[2]), str(ids[0])]
    assert {e["agent_name"] for e in page["items"]} == {"lister"}
    assert page["next_cursor"] is None


def test_an_execution_summary_carries_its_numbers(client: TestClient, tenant: Tenant, owner):
    agent = create_agent(client, tenant)
    insert_execution(
        owner, tenant, agent["agent_id"], status="failure", model="claude", input_tokens=120,
        output_tokens=30, cost_usd="0.00123", error_type="ToolTimeout", error_message="slow",
        session_id="s-1", variant="b",
    )  # fmt: skip
    (summary,) = ok(client.get("/v1/executions", headers=tenant.auth("read")))["items"]
    assert summary["status"] == "failure"
    assert (summary["input_tokens"], summary["output_tokens"]) == (120, 30)
    assert float(summary["cost_usd"]) == pytest.approx(0.00123)
    assert (summary["error_type"], summary["error_message"]) == ("ToolTimeout", "slow")
    assert "input" not in summary, "the list stays light; inputs are in the detail"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "failure"}, {"failed"}),
        ({"variant": "b"}, {"failed"}),
        ({"error_type": "ToolTimeout"}, {"failed"}),
        ({"session_id": "s-1"}, {"ok", "failed"}),
        ({"since": (NOW - dt.timedelta(hours=2)).isoformat()}, {"recent", "failed"}),
        ({"until": (NOW - dt.timedelta(hours=2)).isoformat()}, {"ok"}),
        (
            {
                "since": (NOW - dt.timedelta(hours=6)).isoformat(),
                "until": (NOW - dt.timedelta(hours=2)).isoformat(),
            },
            {"ok"},
        ),
    ],
)
def test_executions_can_be_filtered(
    client: TestClient, tenant: Tenant, owner, query: dict, expected: set[str]
):
    agent = create_agent(client, tenant)
    names = {
        insert_execution(
            owner, tenant, agent["agent_id"], started_at=NOW - dt.timedelta(hours=5),
            session_id="s-1",
        ): "ok",
        insert_execution(
            owner, tenant, agent["agent_id"], started_at=NOW - dt.timedelta(hours=1),
            status="failure", variant="b", error_type="ToolTimeout", session_id="s-1",
        ): "failed",
        insert_execution(
            owner, tenant, agent["agent_id"], started_at=NOW - dt.timedelta(minutes=30)
        ): "recent",
    }  # fmt: skip
    page = ok(client.get("/v1/executions", params=query, headers=tenant.auth("read")))
    assert {names[uuid.UUID(i)] for i in _ids(page)} == expected


def test_executions_can_be_filtered_by_agent_and_prompt_version(
    client: TestClient, world: World, owner
):
    other = insert_execution(owner, world.tenant, world.other_agent_id)
    by_agent = ok(
        client.get(
            "/v1/executions", params={"agent_id": str(world.other_agent_id)},
            headers=world.tenant.auth("read"),
        )
    )  # fmt: skip
    assert _ids(by_agent) == [str(other)]
    by_version = ok(
        client.get(
            "/v1/executions", params={"prompt_version_id": str(world.prompt_version_id)},
            headers=world.tenant.auth("read"),
        )
    )  # fmt: skip
    assert _ids(by_version) == [str(world.execution_id)]


@pytest.mark.parametrize("field", ["since", "until"])
def test_a_time_filter_needs_a_time_zone(client: TestClient, tenant: Tenant, field: str):
    response = client.get(
        "/v1/executions", params={field: "2026-01-01T00:00:00"}, headers=tenant.auth("read")
    )
    error = assert_error(response, 422, "invalid_request")
    assert error["details"][0]["location"] == ["query", field]
    assert "timezone" in error["details"][0]["message"]


def test_an_execution_shows_its_actions_as_a_tree(client: TestClient, tenant: Tenant, owner):
    agent = create_agent(client, tenant)
    plan, search, answer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    execution_id = insert_execution(
        owner,
        tenant,
        agent["agent_id"],
        actions=[
            {"action_id": plan, "name": "plan", "action_type": "llm_inference"},
            {"action_id": search, "parent_action_id": plan, "name": "search"},
            {"parent_action_id": search, "name": "fetch", "action_type": "retrieval"},
            {"parent_action_id": search, "name": "rank", "action_type": "decision"},
            {"action_id": answer, "name": "answer", "action_type": "llm_inference"},
        ],
    )
    detail = ok(client.get(f"/v1/executions/{execution_id}", headers=tenant.auth("read")))
    assert detail["input"] == {"topic": "tests"}
    assert detail["output"] == {"text": "done"}
    assert detail["metadata"] == {"seeded": True}

    def shape(nodes: list[dict]) -> list:
        return [(n["name"], shape(n["children"])) for n in nodes]

    assert shape(detail["actions"]) == [
        ("plan", [("search", [("fetch", []), ("rank", [])])]),
        ("answer", []),
    ]


def test_an_action_whose_parent_is_missing_or_itself_becomes_a_root(
    client: TestClient, tenant: Tenant, owner
):
    agent = create_agent(client, tenant)
    loner = uuid.uuid4()
    execution_id = insert_execution(
        owner,
        tenant,
        agent["agent_id"],
        actions=[
            {"parent_action_id": uuid.uuid4(), "name": "orphan"},
            {"action_id": loner, "parent_action_id": loner, "name": "own-parent"},
        ],
    )
    detail = ok(client.get(f"/v1/executions/{execution_id}", headers=tenant.auth("read")))
    assert [(a["name"], a["children"]) for a in detail["actions"]] == [
        ("orphan", []),
        ("own-parent", []),
    ]


def test_an_execution_without_actions_has_an_empty_tree(client: TestClient, tenant: Tenant, owner):
    agent = create_agent(client, tenant)
    execution_id = insert_execution(owner, tenant, agent["agent_id"], input=None, output=None)
    detail = ok(client.get(f"/v1/executions/{execution_id}", headers=tenant.auth("read")))
    assert detail["actions"] == []
    assert (detail["input"], detail["output"]) == (None, None)


def test_an_unknown_execution_is_not_found(client: TestClient, tenant: Tenant):
    response = client.get(f"/v1/executions/{uuid.uuid4()}", headers=tenant.auth("read"))
    assert assert_error(response, 404, "not_found")["message"] == "execution not found"


def test_another_tenants_actions_never_join_my_execution_tree(
    client: TestClient, world: World, other_world: World, owner
):
    """Even an action row of tenant B that names tenant A's execution id stays invisible."""
    insert_execution(
        owner, other_world.tenant, other_world.agent_id, execution_id=uuid.uuid4(),
        actions=[],
    )  # fmt: skip
    owner.execute(
        "insert into raw.actions (action_id, tenant_id, execution_id, agent_id, action_type,"
        " name, started_at, status) values (%s, %s, %s, %s, 'custom', 'intruder', now(), 'success')",
        (uuid.uuid4(), other_world.tenant.tenant_id, world.execution_id, other_world.agent_id),
    )
    detail = ok(client.get(f"/v1/executions/{world.execution_id}", headers=world.tenant.auth()))
    names: list[str] = []

    def walk(nodes: list[dict]) -> None:
        for node in nodes:
            names.append(node["name"])
            walk(node["children"])

    walk(detail["actions"])
    assert sorted(names) == ["fetch", "plan", "search"]
