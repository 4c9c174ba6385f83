"""Keyset pagination holds while rows are inserted between and during page requests: every row
that existed when the walk began is seen exactly once, and no row is ever seen twice."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.support import Tenant, create_agent, create_version, insert_execution, ok

pytestmark = pytest.mark.integration


def walk(
    client: TestClient,
    tenant: Tenant,
    url: str,
    limit: int,
    between: Callable[[int], None],
    **filters: str,
) -> Iterator[dict]:
    """Every item of a paginated list, calling `between(page_number)` after each page."""
    cursor, number = None, 0
    while True:
        params = {**filters, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = ok(client.get(url, params=params, headers=tenant.auth("read")))
        assert len(page["items"]) <= limit
        yield from page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return
        assert len(page["items"]) == limit, "only the last page may be short"
        number += 1
        between(number)


def _assert_each_once(seen: list[str], existing: set[str]) -> None:
    assert len(seen) == len(set(seen)), "an item was repeated"
    assert existing <= set(seen), f"skipped: {existing - set(seen)}"


def test_agents_page_through_inserts_before_and_after_the_cursor(
    client: TestClient, tenant: Tenant
):
    existing = {create_agent(client, tenant, name=f"m-{i:02}")["agent_id"] for i in range(10)}
    added: list[str] = []

    def insert(page: int) -> None:
        # one name sorts before every page so far, one after every page to come, one in between
        for name in (f"a-{page}", f"z-{page}", f"m-{page:02}-x"):
            added.append(create_agent(client, tenant, name=name)["agent_id"])

    seen = [a["agent_id"] for a in walk(client, tenant, "/v1/agents", 3, insert)]
    _assert_each_once(seen, existing)
    assert set(seen) <= existing | set(added)


def test_agents_are_ordered_by_name_then_id_across_pages(client: TestClient, tenant: Tenant):
    for i in range(7):
        create_agent(client, tenant, name=f"agent-{i % 3}-{i}")
    items = list(walk(client, tenant, "/v1/agents", 2, lambda _: None))
    keys = [(a["name"], a["agent_id"]) for a in items]
    assert keys == sorted(keys)
    assert len(keys) == 7


def test_prompt_versions_page_through_new_versions(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    existing = {create_version(client, tenant, agent["agent_id"])["version"] for _ in range(8)}

    def insert(_: int) -> None:
        create_version(client, tenant, agent["agent_id"])

    url = f"/v1/agents/{agent['agent_id']}/prompt-versions"
    seen = [v["version"] for v in walk(client, tenant, url, 3, insert)]
    assert seen == sorted(existing, reverse=True), "newer versions do not enter a walk begun before"


def test_executions_page_through_inserts_at_any_time(client: TestClient, tenant: Tenant, owner):
    agent = create_agent(client, tenant)
    now = dt.datetime.now(dt.UTC)
    existing = {
        str(insert_execution(owner, tenant, agent["agent_id"], started_at=now - dt.timedelta(minutes=10 * i)))
        for i in range(12)
    }  # fmt: skip
    # two executions that start at the very same instant differ only by id
    same = now - dt.timedelta(minutes=55)
    existing |= {
        str(insert_execution(owner, tenant, agent["agent_id"], started_at=same)) for _ in range(3)
    }

    def insert(page: int) -> None:
        for minutes in (-5, 25 + page, 200):  # newer than all, in the middle, older than all
            insert_execution(
                owner, tenant, agent["agent_id"], started_at=now - dt.timedelta(minutes=minutes)
            )
        insert_execution(owner, tenant, agent["agent_id"], started_at=same)

    items = list(walk(client, tenant, "/v1/executions", 4, insert))
    seen = [e["execution_id"] for e in items]
    _assert_each_once(seen, existing)
    keys = [(e["started_at"], e["execution_id"]) for e in items]
    assert keys == sorted(keys, reverse=True)


def test_a_walk_stays_consistent_while_another_connection_inserts_concurrently(
    client: TestClient, tenant: Tenant, migrated_database
):
    """A writer on its own connection inserts all along; each page waits for a fresh insert."""
    existing = {create_agent(client, tenant, name=f"c-{i:03}")["agent_id"] for i in range(30)}
    stop = threading.Event()
    inserted = threading.Semaphore(0)

    def keep_inserting() -> None:
        with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute(
                    "insert into agents (tenant_id, name) values (%s, %s)",
                    (tenant.tenant_id, f"c-{uuid.uuid4().hex[:6]}"),
                )
                inserted.release()

    def a_fresh_insert(_: int) -> None:
        while inserted.acquire(blocking=False):  # forget the inserts before this page
            pass
        assert inserted.acquire(timeout=10), "the writer stalled"

    writer = threading.Thread(target=keep_inserting)
    writer.start()
    try:
        seen = [a["agent_id"] for a in walk(client, tenant, "/v1/agents", 4, a_fresh_insert)]
    finally:
        stop.set()
        writer.join()
    _assert_each_once(seen, existing)


def test_the_last_page_has_no_cursor_even_when_it_is_full(client: TestClient, tenant: Tenant):
    for i in range(4):
        create_agent(client, tenant, name=f"full-{i}")
    first = ok(client.get("/v1/agents", params={"limit": 2}, headers=tenant.auth("read")))
    assert first["next_cursor"]
    last = ok(
        client.get(
            "/v1/agents",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=tenant.auth("read"),
        )
    )
    assert len(last["items"]) == 2
    assert last["next_cursor"] is None


def test_a_cursor_keeps_the_filter_it_is_used_with(client: TestClient, tenant: Tenant):
    for i in range(5):
        create_agent(client, tenant, name=f"w-{i}", kind="writer" if i % 2 else "custom")
    writers = list(walk(client, tenant, "/v1/agents", 1, lambda _: None, kind="writer"))
    assert [a["name"] for a in writers] == ["w-1", "w-3"]
