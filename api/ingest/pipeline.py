"""The ingest pipeline shared by the SDK's and OTLP's endpoints: validate, store, announce."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import redis.asyncio as aioredis

from api.deps import Session
from api.ingest import store
from api.ingest.items import ActionIn, ExecutionIn, Rejected, parse_items
from api.schemas.ingest import IngestResult
from meta_agent.stream import publish_executions


def _known_agents(
    items: list[tuple[int, Any]],
    kind: Literal["execution", "action"],
    agent_ids: dict[str, Any],
    rejected: list[Rejected],
) -> list[Any]:
    """Keep items whose agent the tenant knows; report the rest by their batch index."""
    kept = []
    for index, item in items:
        if item["agent"] in agent_ids:
            kept.append(item)
        else:
            reason = f"unknown agent {item['agent']!r} (this tenant does not register new agents)"
            rejected.append(Rejected(kind, index, reason))
    return kept


async def ingest_items(
    session: Session,
    redis: aioredis.Redis,
    *,
    executions: list[Any],
    actions: list[Any],
    sdk_version: str | None,
    prevalidated: bool = False,
) -> IngestResult:
    """Store what is valid, report what is not, and announce new executions on the stream.

    `prevalidated`: the items are models from `validate_batch_json`, not JSON objects."""
    conn, tenant_id = session.conn, session.tenant_id
    cursor = await conn.execute("select unknown_agent_policy, retention_days from tenants")
    tenant = await cursor.fetchone()
    assert tenant is not None  # RLS shows the caller's own tenant row
    now = dt.datetime.now(dt.UTC)
    earliest, latest = now - dt.timedelta(days=tenant["retention_days"]), now + dt.timedelta(days=1)
    parsed_e, rejected = parse_items(
        executions, "execution", earliest=earliest, latest=latest, prevalidated=prevalidated
    )
    parsed_a, rejected_a = parse_items(
        actions, "action", earliest=earliest, latest=latest, prevalidated=prevalidated
    )
    rejected += rejected_a

    agent_ids = await store.resolve_agents(
        conn,
        {item["agent"] for _, item in [*parsed_e, *parsed_a]},
        tenant_id=tenant_id,
        register=tenant["unknown_agent_policy"] == "register",
    )
    good_e: list[ExecutionIn] = _known_agents(parsed_e, "execution", agent_ids, rejected)
    good_a: list[ActionIn] = _known_agents(parsed_a, "action", agent_ids, rejected)

    await store.ensure_partitions(
        conn, {i["started_at"].astimezone(dt.UTC).date() for i in [*good_e, *good_a]}
    )
    # Executions go in last: their insert triggers bump the agent's hourly rollup row, whose
    # lock is then held until commit, so concurrent batches of one agent queue behind it.
    # Taken first, it made every other request wait out this one's actions insert (3 requests
    # in flight ran one after another).
    stored_actions = await store.store_actions(conn, good_a, tenant_id=tenant_id)
    circuits = await store.circuit_states(conn, agent_ids)
    stored = await store.store_executions(
        conn, good_e, tenant_id=tenant_id, sdk_version=sdk_version
    )
    # Committed before they are announced: a worker that reads the stream finds the rows in
    # Postgres, a commit that fails announces nothing, and the rollup lock is not held while
    # Redis answers. A crash between the two loses only the announcement, which the realtime
    # worker rebuilds from Postgres. (The session's own commit then has nothing left to do.)
    await conn.commit()
    stream_ok = await publish_executions(redis, stored)
    return IngestResult.model_validate(
        {
            "accepted": {"executions": len(stored), "actions": stored_actions},
            "duplicates": {
                "executions": len(good_e) - len(stored),
                "actions": len(good_a) - stored_actions,
            },
            "rejected": [vars(r) for r in sorted(rejected, key=lambda r: (r.kind, r.index))],
            "stream": "ok" if stream_ok else "unavailable",
            "circuits": circuits,
            "routing_version": 0,
        }
    )
