"""SDK → API (a real subprocess) → Postgres: what an agent logs is what is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from meta_agent_sdk import AgentLogger

from tests.raw_rows import stored_ids_at

pytestmark = pytest.mark.integration


def _tree(api_url: str, key: str, execution_id: str) -> dict:
    response = httpx.get(
        f"{api_url}/v1/executions/{execution_id}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_sync_execution_with_nested_actions_is_stored_as_logged(
    api_process, e2e_tenant, tmp_path: Path
):
    tenant = e2e_tenant()
    logger = AgentLogger(
        "e2e-writer", api_key=tenant.key, endpoint=api_process.url, spool_dir=tmp_path
    )
    with logger.execution(
        input={"topic": "tides"}, session_id="session-1", metadata={"env": "test"}
    ) as ex:
        with ex.tool_call("research", input={"q": "tides"}) as research:
            llm = ex.llm_inference("claude-sonnet-4-5", 1200, 300, duration_ms=812.0)
        ex.retrieval("vector-store", output={"hits": 3}, duration_ms=12.5)
        ex.output = {"draft": "The tide comes in."}
    assert logger.flush(15)
    logger.shutdown(5)

    stored = _tree(api_process.url, tenant.key, ex.execution_id)
    assert stored["agent_name"] == "e2e-writer"
    assert stored["status"] == "success"
    assert stored["session_id"] == "session-1"
    assert stored["input"] == {"topic": "tides"}
    assert stored["output"] == {"draft": "The tide comes in."}
    assert stored["metadata"]["env"] == "test"
    roots = {node["name"]: node for node in stored["actions"]}
    assert set(roots) == {"research", "vector-store"}
    [child] = roots["research"]["children"]
    assert child["action_id"] == llm.action_id
    assert child["parent_action_id"] == research.action_id
    assert (child["model"], child["input_tokens"], child["output_tokens"]) == (
        "claude-sonnet-4-5",
        1200,
        300,
    )
    assert float(child["cost_usd"]) > 0  # from the SDK's price table
    assert stored["input_tokens"] == 1200


def test_an_async_execution_that_fails_is_stored_as_a_failure(
    api_process, e2e_tenant, tmp_path: Path
):
    tenant = e2e_tenant()
    logger = AgentLogger(
        "e2e-async", api_key=tenant.key, endpoint=api_process.url, spool_dir=tmp_path
    )

    async def run(ids: list[str]) -> None:
        async with logger.execution(input="hello") as ex:
            ids.append(ex.execution_id)
            with ex.tool_call("crm") as call:
                await asyncio.sleep(0.01)
                call.output = {"ok": True}
            raise ConnectionError("crm down, token=sk-secret-123456789012345678")

    ids: list[str] = []
    with pytest.raises(ConnectionError):
        asyncio.run(run(ids))
    [execution_id] = ids
    assert logger.flush(15)
    logger.shutdown(5)
    stored = _tree(api_process.url, tenant.key, execution_id)
    assert stored["status"] == "failure"
    assert stored["error_type"] == "ConnectionError"
    assert "sk-secret" not in stored["error_message"]
    assert [a["name"] for a in stored["actions"]] == ["crm"]
    assert stored["actions"][0]["duration_ms"] >= 10


def test_every_logged_id_is_stored_exactly(
    api_process, e2e_tenant, migrated_database, tmp_path: Path
):
    tenant = e2e_tenant()
    logger = AgentLogger(
        "e2e-volume", api_key=tenant.key, endpoint=api_process.url, spool_dir=tmp_path
    )
    executions, actions = set(), set()
    for _ in range(500):
        with logger.execution() as ex:
            executions.add(ex.execution_id)
            for step in range(5):
                actions.add(ex.tool_call(f"step-{step}", duration_ms=1.0).action_id)
    assert logger.flush(30)
    logger.shutdown(5)
    assert stored_ids_at(migrated_database.owner_url, tenant.tenant_id) == (executions, actions)
