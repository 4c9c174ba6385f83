"""POST /v1/ingest: partial success by index, idempotent replays, limits, the stream."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from typing import Any

import psycopg
import pytest
import redis

from meta_agent.stream import EXECUTIONS_STREAM, entry_values
from tests.raw_rows import stored_ids

pytestmark = pytest.mark.integration


def _now(offset_s: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)).isoformat()


def execution(agent: str = "writer", **fields: Any) -> dict[str, Any]:
    return {
        "execution_id": str(uuid.uuid4()), "agent": agent, "started_at": _now(-2),
        "ended_at": _now(), "duration_ms": 2000.0, "status": "success", **fields,
    }  # fmt: skip


def action(execution_item: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "action_id": str(uuid.uuid4()), "execution_id": execution_item["execution_id"],
        "agent": execution_item["agent"], "action_type": "tool_call", "name": "search",
        "started_at": _now(-1), "ended_at": _now(), "status": "success", **fields,
    }  # fmt: skip


def test_a_batch_is_stored_and_the_good_items_survive_the_bad_ones(
    ingest_client, make_tenant, owner_conn
):
    tenant = make_tenant()
    good = execution(input={"question": "hi"}, metadata={"env": "prod"})
    batch = {
        "executions": [good, {**execution(), "status": "exploded"}, {"agent": "writer"}],
        "actions": [
            action(good, parent_action_id=None),
            {**action(good), "started_at": "yesterday"},
        ],
    }
    response = ingest_client.post("/v1/ingest", json=batch, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == {"executions": 1, "actions": 1}
    assert [(r["kind"], r["index"]) for r in body["rejected"]] == [
        ("action", 1),
        ("execution", 1),
        ("execution", 2),
    ]
    assert body["circuits"]["writer"]["state"] == "closed"
    executions, actions = stored_ids(owner_conn, tenant.tenant_id)
    assert executions == {good["execution_id"]}
    assert actions == {batch["actions"][0]["action_id"]}


def test_a_replayed_batch_stores_nothing_twice_and_counts_the_duplicates(
    ingest_client, make_tenant, owner_conn
):
    tenant = make_tenant()
    first = execution()
    batch = {"executions": [first], "actions": [action(first), action(first)]}
    assert ingest_client.post("/v1/ingest", json=batch, headers=tenant.headers).json()["accepted"] == {
        "executions": 1, "actions": 2,
    }  # fmt: skip
    replay = ingest_client.post("/v1/ingest", json=batch, headers=tenant.headers).json()
    assert replay["accepted"] == {"executions": 0, "actions": 0}
    assert replay["duplicates"] == {"executions": 1, "actions": 2}
    executions, actions = stored_ids(owner_conn, tenant.tenant_id)
    assert (len(executions), len(actions)) == (1, 2)


def test_gzip_bodies_are_accepted(ingest_client, make_tenant):
    tenant = make_tenant()
    body = gzip.compress(json.dumps({"executions": [execution()]}).encode())
    response = ingest_client.post(
        "/v1/ingest", content=body,
        headers={**tenant.headers, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.json()["accepted"]["executions"] == 1


def test_new_executions_are_announced_on_the_stream_once(ingest_client, make_tenant, servers):
    tenant = make_tenant()
    item = execution(status="failure", error_type="ToolTimeout")
    for _ in range(2):
        ingest_client.post("/v1/ingest", json={"executions": [item]}, headers=tenant.headers)
    client = redis.Redis.from_url(servers.redis.url(), decode_responses=True)
    announced = [entry_values(f) for _, f in client.xrange(EXECUTIONS_STREAM)]
    entries = [v for v in announced if v["execution_id"] == item["execution_id"]]
    assert len(entries) == 1
    assert entries[0]["status"] == "failure"
    assert entries[0]["tenant_id"] == str(tenant.tenant_id)


def test_a_tenant_that_refuses_unknown_agents_gets_them_rejected_by_index(
    ingest_client, make_tenant
):
    tenant = make_tenant(policy="reject")
    response = ingest_client.post(
        "/v1/ingest", json={"executions": [execution("never-seen")]}, headers=tenant.headers
    )
    body = response.json()
    assert body["accepted"]["executions"] == 0
    assert body["rejected"][0]["reason"].startswith("unknown agent 'never-seen'")


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"started_at": "2026-01-01T00:00:00"}, "needs a time zone"),
        ({"started_at": _now(3 * 86400), "ended_at": None}, "outside the accepted window"),
        ({"started_at": "1999-01-01T00:00:00Z"}, "outside the accepted window"),
        ({"ended_at": "2000-01-01T00:00:00Z"}, "ended_at is before started_at"),
        ({"cost_usd": -1}, "cost_usd"),
        ({"metadata": {"k": "nul\u0000"}}, "metadata: must not contain NUL"),
        ({"metadata": {"nul\u0000": 1}}, "metadata: must not contain NUL"),
        ({"output": [{"deep": [[[1.5, "x\u0000"]]]}]}, "output: must not contain NUL"),
        ({"input": "x" * 70_000}, "larger than"),
        ({"input": "é" * 40_000}, "larger than"),  # 80,000 bytes of UTF-8
        ({"output": _nested(40)}, "output: is nested deeper than 32 levels"),
        ({"execution_id": "not-a-uuid"}, "execution_id: must be a UUID"),
        ({"parent_execution_id": f"urn:uuid:{uuid.uuid4()}"}, "parent_execution_id: must be a"),
    ],
)
def test_bad_items_are_rejected_with_a_reason(ingest_client, make_tenant, change, reason):
    tenant = make_tenant()
    good = execution()
    response = ingest_client.post(
        "/v1/ingest",
        json={"executions": [good, {**execution(), **change}]},
        headers=tenant.headers,
    )
    assert response.status_code == 200
    body = response.json()
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert reason in rejected["reason"]
    assert body["accepted"]["executions"] == 1  # the good item of the batch is stored


def test_an_id_in_any_form_postgres_reads_is_stored_in_its_canonical_form(
    ingest_client, make_tenant, owner_conn
):
    tenant = make_tenant()
    canonical = uuid.uuid4()
    item = execution(execution_id=canonical.hex.upper())
    response = ingest_client.post("/v1/ingest", json={"executions": [item]}, headers=tenant.headers)
    assert response.json()["accepted"]["executions"] == 1, response.text
    row = owner_conn.execute(
        "select execution_id from raw.executions where execution_id = %s", (canonical,)
    ).fetchone()
    assert row == (canonical,)


def test_nan_and_lone_surrogates_in_free_form_fields_are_rejected_by_field(
    ingest_client, make_tenant
):
    tenant = make_tenant()
    # NaN and a lone surrogate cannot be written with json=...: the body is sent as text
    bad = [
        ("metadata", '{"k": NaN}', "metadata: must not contain NaN"),
        ("input", '"lone \\ud800"', "input: must be valid Unicode"),
    ]
    for field, value, reason in bad:
        item = json.dumps(execution())[:-1] + f', "{field}": {value}}}'
        response = ingest_client.post(
            "/v1/ingest",
            content=f'{{"executions": [{item}]}}',
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        [rejected] = response.json()["rejected"]
        assert reason in rejected["reason"]


def test_text_that_only_looks_like_an_escaped_nul_is_stored(ingest_client, make_tenant):
    tenant = make_tenant()
    odd = {**execution(), "input": {"path": "C:\\u0000\\dir", "deep": _nested(30)}}
    response = ingest_client.post("/v1/ingest", json={"executions": [odd]}, headers=tenant.headers)
    assert response.json()["accepted"]["executions"] == 1


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {}, 422),
        (b"[1, 2]", {}, 422),
        (b'{"executions": "nope"}', {}, 422),
        (b"not gzip", {"Content-Encoding": "gzip"}, 422),
        (b"{}", {"Content-Encoding": "br"}, 415),
    ],
)
def test_malformed_bodies_get_a_clear_error(ingest_client, make_tenant, content, headers, status):
    tenant = make_tenant()
    response = ingest_client.post(
        "/v1/ingest",
        content=content,
        headers={**tenant.headers, "Content-Type": "application/json", **headers},
    )
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_oversize_batches_and_gzip_bombs_are_refused(ingest_client, make_tenant, owner_conn):
    tenant = make_tenant()
    too_many = {"executions": [execution() for _ in range(5_001)]}
    assert (
        ingest_client.post("/v1/ingest", json=too_many, headers=tenant.headers).status_code == 413
    )
    bomb = gzip.compress(b'{"executions": [' + b" " * (70 * 1024 * 1024) + b"]}")
    response = ingest_client.post(
        "/v1/ingest", content=bomb,
        headers={**tenant.headers, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 413
    assert stored_ids(owner_conn, tenant.tenant_id) == (set(), set())


def test_ingest_needs_the_ingest_scope(ingest_client, make_tenant):
    reader = make_tenant(scopes=("read",))
    response = ingest_client.post(
        "/v1/ingest", json={"executions": [execution()]}, headers=reader.headers
    )
    assert response.status_code == 403
    assert ingest_client.post("/v1/ingest", json={}).status_code == 401


def test_a_tenant_cannot_write_into_another_tenants_agent_by_name(
    ingest_client, make_tenant, owner_conn
):
    first, second = make_tenant(), make_tenant()
    ingest_client.post(
        "/v1/ingest", json={"executions": [execution("shared-name")]}, headers=first.headers
    )
    ingest_client.post(
        "/v1/ingest", json={"executions": [execution("shared-name")]}, headers=second.headers
    )
    agents = owner_conn.execute(
        "select tenant_id, count(*) from agents where name = 'shared-name' and tenant_id = any(%s) group by 1",
        ([first.tenant_id, second.tenant_id],),
    ).fetchall()
    assert sorted(n for _, n in agents) == [1, 1]


def test_executions_are_committed_before_they_are_announced(
    ingest_client, make_tenant, migrated_database, monkeypatch
):
    from api.ingest import pipeline

    tenant = make_tenant()
    # the day's partitions exist first: creating one locks the table until commit
    ingest_client.post("/v1/ingest", json={"executions": [execution()]}, headers=tenant.headers)
    item = execution()
    seen_at_announcement: list[object] = []
    announce = pipeline.publish_executions

    async def observed(redis_client, stored):
        # another session, as a realtime worker would be: only committed rows are visible
        with psycopg.connect(migrated_database.owner_url, autocommit=True) as other:
            other.execute("set lock_timeout = '5s'")  # never a hang, whatever is held
            row = other.execute(
                "select count(*) from raw.executions where execution_id = %s",
                (item["execution_id"],),
            ).fetchone()
        seen_at_announcement.append(row[0] if row else None)
        return await announce(redis_client, stored)

    monkeypatch.setattr(pipeline, "publish_executions", observed)
    response = ingest_client.post("/v1/ingest", json={"executions": [item]}, headers=tenant.headers)
    assert response.json()["stream"] == "ok", response.text
    assert seen_at_announcement == [1]
