"""Circuit breaker routes against the real Redis and Postgres: overrides are atomic in Redis,
recorded in Postgres with who and why, published on the tenant's channel; a half-open breaker
hands out exactly its probe permits; another tenant sees nothing; without Redis the state is
read from Postgres and changes are refused."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient

from api.app import create_app
from meta_agent.breaker import (
    BreakerConfig,
    BreakerKey,
    Outcome,
    RedisBreakerStore,
    permit_token,
)
from meta_agent.connections import ServerUrls
from meta_agent.events import channel
from meta_agent.settings import load_settings
from tests.api.support import Tenant, assert_error, create_agent, ok

pytestmark = pytest.mark.integration


def circuit(client: TestClient, tenant: Tenant, agent_id: str) -> dict[str, Any]:
    return ok(client.get(f"/v1/agents/{agent_id}/circuit", headers=tenant.auth("read")))


def act(client: TestClient, tenant: Tenant, agent_id: str, action: str, reason: str) -> Any:
    body = {"action": action, "reason": reason}
    return client.post(f"/v1/agents/{agent_id}/circuit", json=body, headers=tenant.auth("write"))


def test_a_new_agent_has_a_closed_breaker_on_the_default_config(client, tenant):
    agent = create_agent(client, tenant)
    body = circuit(client, tenant, agent["agent_id"])
    assert body["state"] == "closed"
    assert body["version"] == 0
    assert body["source"] == "redis"
    assert body["window"] == {
        "calls": 0,
        "failures": 0,
        "slow_calls": 0,
        "failure_rate": None,
        "slow_call_rate": None,
    }
    assert body["config"]["is_default"] is True
    assert body["config"]["min_calls"] == BreakerConfig().min_calls


def test_force_open_is_recorded_published_and_seen_by_the_sdk(client, tenant, owner, servers):
    agent = create_agent(client, tenant)
    agent_id = agent["agent_id"]
    listener = redis.Redis.from_url(servers.redis.url())
    pubsub = listener.pubsub()
    pubsub.subscribe(channel(tenant.tenant_id))
    pubsub.get_message(timeout=1)  # the subscribe confirmation

    body = ok(act(client, tenant, agent_id, "force_open", "upstream vendor incident #42"))
    assert body["state"] == "forced_open"
    assert body["forced_reason"] == "upstream vendor incident #42"
    assert body["forced_by"].startswith("write-key [key ")

    message = pubsub.get_message(timeout=2)
    assert message is not None
    assert message["type"] == "message"
    event = json.loads(message["data"])
    assert event["type"] == "breaker"
    assert (event["agent_id"], event["to_state"], event["cause"]) == (
        agent_id,
        "forced_open",
        "manual",
    )
    pubsub.close()
    listener.close()

    rows = owner.execute(
        "select to_state, cause, actor, reason from circuit_breaker_events where agent_id = %s",
        (agent_id,),
    ).fetchall()
    assert rows == [("forced_open", "manual", body["forced_by"], "upstream vendor incident #42")]
    assert owner.execute(
        "select state from circuit_breaker_states where agent_id = %s", (agent_id,)
    ).fetchone() == ("forced_open",)

    states = ok(
        client.get(
            "/v1/circuits",
            params={"agent": [agent["name"], "no-such-agent"]},
            headers=tenant.auth("ingest"),
        )
    )
    assert states["circuits"] == {agent["name"]: {"state": "forced_open", "retry_after_s": None}}
    permit = ok(
        client.post(f"/v1/circuits/{agent['name']}/permits", json={}, headers=tenant.auth("ingest"))
    )
    assert permit == {
        "admitted": False,
        "permit": None,
        "circuit": {"state": "forced_open", "retry_after_s": None},
    }

    body = ok(act(client, tenant, agent_id, "reset", "incident closed"))
    assert body["state"] == "closed"
    events = ok(client.get(f"/v1/agents/{agent_id}/circuit/events", headers=tenant.auth("read")))[
        "items"
    ]
    assert [(e["from_state"], e["to_state"]) for e in events] == [
        ("forced_open", "closed"),
        ("closed", "forced_open"),
    ]


def test_an_override_needs_a_reason_and_the_write_scope(client, tenant):
    agent_id = create_agent(client, tenant)["agent_id"]
    for blank in ("   ", "\t", "\n "):
        assert_error(act(client, tenant, agent_id, "force_open", blank), 422)
    schema = client.get("/openapi.json").json()["components"]["schemas"]["CircuitAction"]
    assert schema["properties"]["reason"]["pattern"] == r"\S"  # the document says not blank
    assert_error(act(client, tenant, agent_id, "explode", "why not"), 422)
    response = client.post(
        f"/v1/agents/{agent_id}/circuit",
        json={"action": "reset", "reason": "x"},
        headers=tenant.auth("read"),
    )
    assert_error(response, 403)
    assert circuit(client, tenant, agent_id)["version"] == 0


def test_config_is_validated_saved_and_starts_a_new_window(client, tenant):
    agent_id = create_agent(client, tenant)["agent_id"]
    url = f"/v1/agents/{agent_id}/circuit/config"
    bad = client.put(url, json={"window_size": 10, "min_calls": 50}, headers=tenant.auth("write"))
    error = assert_error(bad, 422)
    assert "min_calls (50) cannot exceed a count window's size (10)" in error["message"]
    assert_error(
        client.put(url, json={"failure_rate_threshold": 1.5}, headers=tenant.auth("write")), 422
    )
    assert_error(client.put(url, json={"colour": "red"}, headers=tenant.auth("write")), 422)

    saved = ok(
        client.put(
            url,
            json={"window_kind": "time", "window_size": 60, "min_calls": 5, "reason": "tighter"},
            headers=tenant.auth("write"),
        )
    )
    assert saved["is_default"] is False
    assert saved["window_kind"] == "time"
    assert saved["updated_by"].startswith("write-key")
    assert ok(client.get(url, headers=tenant.auth("read")))["window_size"] == 60
    events = ok(client.get(f"/v1/agents/{agent_id}/circuit/events", headers=tenant.auth("read")))
    assert [(e["cause"], e["reason"]) for e in events["items"]] == [("config_changed", "tighter")]


def test_a_half_open_breaker_admits_exactly_its_probes(client, tenant, servers):
    agent = create_agent(client, tenant)
    config = {"open_duration_ms": 50, "min_calls": 5, "half_open_permitted_probes": 3}
    ok(
        client.put(
            f"/v1/agents/{agent['agent_id']}/circuit/config",
            json=config,
            headers=tenant.auth("write"),
        )
    )
    key = BreakerKey(tenant.tenant_id, uuid.UUID(agent["agent_id"]))

    async def open_it() -> None:
        async with aioredis.Redis.from_url(servers.redis.url()) as r:
            store = RedisBreakerStore(r)
            now = time.time_ns() // 1_000_000
            for _ in range(5):
                await store.on_result(key, BreakerConfig(**config), None, Outcome.FAILURE, 10, now)

    asyncio.run(open_it())
    assert circuit(client, tenant, agent["agent_id"])["state"] == "open"
    time.sleep(0.1)
    url = f"/v1/circuits/{agent['name']}/permits"
    answers = [ok(client.post(url, json={}, headers=tenant.auth("ingest"))) for _ in range(5)]
    admitted = [a for a in answers if a["admitted"]]
    assert len(admitted) == 3
    assert [a["circuit"]["state"] for a in answers] == ["half_open"] * 5
    tokens = [a["permit"]["token"] for a in admitted]
    permits = [permit_token.decode(t) for t in tokens]
    assert [p.slot for p in permits if p] == [0, 1, 2]
    assert all(a["permit"]["kind"] == "probe" and a["permit"]["deadline_ms"] for a in admitted)
    body = circuit(client, tenant, agent["agent_id"])
    assert body["probes"]["limit"] == 3
    assert body["probes"]["issued"] == 3
    assert len(body["probes"]["deadlines"]) == 3


def test_another_tenant_sees_and_changes_nothing(client, tenant, other_tenant):
    agent = create_agent(client, tenant)
    agent_id = agent["agent_id"]
    assert_error(
        client.get(f"/v1/agents/{agent_id}/circuit", headers=other_tenant.auth("read")), 404
    )
    assert_error(act(client, other_tenant, agent_id, "force_open", "mischief"), 404)
    assert_error(
        client.post(
            f"/v1/circuits/{agent['name']}/permits", json={}, headers=other_tenant.auth("ingest")
        ),
        404,
    )
    states = ok(
        client.get(
            "/v1/circuits", params={"agent": agent["name"]}, headers=other_tenant.auth("ingest")
        )
    )
    assert states["circuits"] == {}
    assert circuit(client, tenant, agent_id)["version"] == 0


def test_without_redis_the_state_comes_from_postgres_and_changes_are_refused(
    client, tenant, urls, tmp_path: Path, owner: psycopg.Connection
):
    agent_id = create_agent(client, tenant)["agent_id"]
    ok(act(client, tenant, agent_id, "force_open", "maintenance window"))
    gone = ServerUrls(urls.database_url, urls.app_database_url, f"unix://{tmp_path}/x.sock")
    with TestClient(create_app(load_settings({}), gone)) as without_redis:
        body = circuit(without_redis, tenant, agent_id)
        assert (body["state"], body["source"]) == ("forced_open", "postgres")
        assert body["window"] is None
        assert_error(act(without_redis, tenant, agent_id, "reset", "try"), 503)
    assert owner.execute(
        "select state from circuit_breaker_states where agent_id = %s", (agent_id,)
    ).fetchone() == ("forced_open",)
