"""The burn-rate windows read from the per-agent hourly rollup (migration 0017) and raw rows at
its edges, as the realtime worker's role: exact counts, per tenant, per SLA."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from meta_agent import migrations
from meta_agent.alerting.burn_rate import DEFAULT_RULES, WindowCounts, windows_of
from meta_agent.alerting.burn_series import (
    BurnInput,
    load_burn_inputs,
    tenants_with_slas,
    window_parts,
)
from meta_agent.db import Database

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 3, 4, 12, 34, 56, 500000, tzinfo=dt.UTC)
WINDOWS = (300, 1800, 3600, 21600, 259200)
SECOND = dt.timedelta(seconds=1)

# what the rollup and its edges must add up to: decided executions started in [now - w, now)
_DIRECT = """
select count(*) filter (where status in ('success', 'failure', 'timeout')),
       count(*) filter (where status in ('failure', 'timeout'))
from raw.executions
where tenant_id = %s and started_at >= %s and started_at < %s
  and (%s::uuid is null or agent_id = %s::uuid)
"""


@pytest.fixture(scope="module")
def owner(migrated_database: Any) -> Iterator[psycopg.Connection]:
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        conn.execute(
            "select app.ensure_daily_partitions('raw.executions', '2026-02-27', '2026-03-06')"
        )
        yield conn


def new_tenant(owner: psycopg.Connection) -> uuid.UUID:
    row = owner.execute(
        "insert into tenants (name) values (%s) returning tenant_id",
        (f"burn-{uuid.uuid4().hex[:12]}",),
    ).fetchone()
    assert row is not None
    return row[0]


def new_agent(owner: psycopg.Connection, tenant: uuid.UUID) -> uuid.UUID:
    row = owner.execute(
        "insert into agents (tenant_id, name) values (%s, %s) returning agent_id",
        (tenant, f"agent-{uuid.uuid4().hex[:8]}"),
    ).fetchone()
    assert row is not None
    return row[0]


def new_sla(
    owner: psycopg.Connection,
    tenant: uuid.UUID,
    agent: uuid.UUID | None,
    *,
    target: float | None = 0.999,
    budget: float | None = None,
    **columns: Any,
) -> uuid.UUID:
    values = {"target_success_rate": target, "error_budget": budget, **columns}
    if target is None:
        values["target_p95_ms"] = 2000
    names = ", ".join(values)
    row = owner.execute(
        f"insert into sla_definitions (tenant_id, agent_id, name, {names})"
        f" values (%s, %s, %s, {', '.join(['%s'] * len(values))}) returning sla_definition_id",
        (tenant, agent, f"sla-{uuid.uuid4().hex[:6]}", *values.values()),
    ).fetchone()
    assert row is not None
    return row[0]


def insert_executions(
    owner: psycopg.Connection,
    tenant: uuid.UUID,
    rows: Sequence[tuple[uuid.UUID, dt.datetime, str]],
    ids: Sequence[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """(agent, started_at, status) rows in one statement, as ingest stores a batch."""
    ids = list(ids or [uuid.uuid4() for _ in rows])
    owner.execute(
        """
        insert into raw.executions (execution_id, tenant_id, agent_id, started_at, status)
        select id, %s, agent, started_at, status
        from unnest(%s::uuid[], %s::uuid[], %s::timestamptz[], %s::text[])
            as r (id, agent, started_at, status)
        on conflict do nothing
        """,
        (tenant, ids, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )
    return ids


def load(app_url: str, tenant: uuid.UUID, now: dt.datetime = NOW) -> list[BurnInput]:
    async def main() -> list[BurnInput]:
        async with Database(app_url) as db:
            return await load_burn_inputs(db, tenant, now)

    return asyncio.run(main())


def direct(
    owner: psycopg.Connection, tenant: uuid.UUID, agent: uuid.UUID | None, now: dt.datetime
) -> dict[int, WindowCounts]:
    counts = {}
    for w in WINDOWS:
        since = now - dt.timedelta(seconds=w)
        row = owner.execute(_DIRECT, (tenant, since, now, agent, agent)).fetchone()
        assert row is not None
        counts[w] = WindowCounts(*row)
    return counts


def test_the_windows_are_the_default_rules():
    assert windows_of(DEFAULT_RULES) == WINDOWS


def test_each_window_counts_exactly_the_executions_started_inside_it(migrated_database, owner):
    tenant = new_tenant(owner)
    agent = new_agent(owner, tenant)
    new_sla(owner, tenant, agent)
    at = lambda **delta: NOW - dt.timedelta(**delta)  # noqa: E731
    insert_executions(
        owner,
        tenant,
        [
            (agent, at(minutes=1), "failure"),  # every window
            (agent, at(minutes=4), "success"),  # every window
            (agent, at(minutes=5), "timeout"),  # 5 min includes its first instant
            (agent, at(minutes=5, microseconds=1), "failure"),  # just before 5 min
            (agent, at(minutes=29), "success"),
            (agent, at(minutes=50), "failure"),  # an hour earlier than NOW's hour
            (agent, at(hours=3), "success"),
            (agent, at(hours=5, minutes=59), "failure"),
            (agent, at(hours=6, seconds=1), "success"),  # just before 6 h
            (agent, at(days=2), "failure"),
            (agent, at(days=3) + SECOND, "success"),  # the 3-day window's first second
            (agent, at(days=3), "failure"),  # its first instant
            (agent, at(days=3, seconds=1), "failure"),  # just before 3 d
            (agent, NOW, "failure"),  # the window ends before now
            (agent, at(minutes=2), "cancelled"),  # undecided: neither spends nor earns
            (agent, at(minutes=3), "running"),
        ],
    )
    [sla] = load(migrated_database.app_url, tenant)
    assert sla.counts == {
        300: WindowCounts(3, 2),
        1800: WindowCounts(5, 3),
        3600: WindowCounts(6, 4),
        21600: WindowCounts(8, 5),
        259200: WindowCounts(12, 7),
    }


@pytest.mark.parametrize("seed", range(6))
def test_the_rollup_and_its_edges_equal_a_direct_count(migrated_database, owner, seed: int):
    rng = random.Random(seed)
    tenant = new_tenant(owner)
    agents = [new_agent(owner, tenant) for _ in range(3)]
    new_sla(owner, tenant, agents[0])
    new_sla(owner, tenant, None)
    # now anywhere in a day, a third of the time right on an hour
    now = NOW.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(
        seconds=rng.uniform(0, 86400)
    )
    if seed % 3 == 0:
        now = now.replace(minute=0, second=0, microsecond=0)
    statuses = ["success", "success", "failure", "timeout", "cancelled", "running"]
    rows = [
        (rng.choice(agents), now - dt.timedelta(seconds=rng.uniform(-600, 3.2 * 86400)),
         rng.choice(statuses))
        for _ in range(400)
    ]  # fmt: skip
    # every window's edges, and the hours around them
    for w in WINDOWS:
        since = now - dt.timedelta(seconds=w)
        hour = since.replace(minute=0, second=0, microsecond=0)
        for t in (since - SECOND, since, since + SECOND, hour, hour + dt.timedelta(hours=1)):
            rows.append((rng.choice(agents), t, "failure"))
    insert_executions(owner, tenant, rows)
    # and a second batch, so the rollup's rows are updated as well as created
    insert_executions(owner, tenant, rows[:50])
    by_agent = {s.agent_id: s.counts for s in load(migrated_database.app_url, tenant, now)}
    # the tenant-wide SLA is the other two agents', each on its own executions
    assert by_agent == {agent: direct(owner, tenant, agent, now) for agent in agents}


def test_a_tenant_wide_sla_is_each_agents_without_one_of_its_own(migrated_database, owner):
    """As the SLA mart takes it: an agent answers to its own SLA, else the tenant-wide one,
    judged on its own executions; an own SLA without a success-rate target burns nothing,
    and keeps the tenant-wide one off that agent too."""
    tenant = new_tenant(owner)
    a, b, c, d, _idle = (new_agent(owner, tenant) for _ in range(5))
    own = new_sla(owner, tenant, a, target=0.99)
    wide = new_sla(owner, tenant, None, target=0.999, budget=0.005)
    new_sla(owner, tenant, b, target=None)  # latency only: no budget to burn
    retired = new_sla(owner, tenant, c, target=0.9)
    owner.execute(
        "update sla_definitions set effective_from = now() - interval '1 day',"
        " effective_to = now() where sla_definition_id = %s",
        (retired,),
    )
    minute = dt.timedelta(minutes=1)
    insert_executions(
        owner,
        tenant,
        [
            (a, NOW - minute, "failure"),
            (b, NOW - minute, "success"),
            (c, NOW - minute, "failure"),
            (b, NOW - dt.timedelta(hours=2), "failure"),
            (d, NOW - minute, "success"),
            (d, NOW - dt.timedelta(hours=2), "failure"),
        ],
    )
    burns = {s.agent_id: s for s in load(migrated_database.app_url, tenant)}
    assert set(burns) == {a, c, d}  # b has an SLA of its own; idle has nothing to judge
    assert burns[a].sla_definition_id == own
    assert burns[a].error_budget == pytest.approx(0.01)
    assert burns[a].counts[300] == WindowCounts(1, 1)
    assert burns[a].counts[259200] == WindowCounts(1, 1)
    assert {burns[c].sla_definition_id, burns[d].sla_definition_id} == {wide}
    assert burns[c].error_budget == 0.005
    assert burns[c].counts[300] == WindowCounts(1, 1)
    assert burns[d].counts[300] == WindowCounts(1, 0)
    assert burns[d].counts[21600] == WindowCounts(2, 1)


def test_one_tenant_never_counts_anothers_executions(migrated_database, owner):
    mine, theirs = new_tenant(owner), new_tenant(owner)
    my_agent, their_agent = new_agent(owner, mine), new_agent(owner, theirs)
    new_sla(owner, mine, None)
    new_sla(owner, theirs, None)
    insert_executions(owner, mine, [(my_agent, NOW - dt.timedelta(hours=2), "failure")])
    insert_executions(
        owner, theirs, [(their_agent, NOW - dt.timedelta(hours=h), "failure") for h in (0.1, 2)]
    )
    [sla] = load(migrated_database.app_url, mine)
    assert sla.tenant_id == mine
    assert sla.counts[21600] == WindowCounts(1, 1)
    assert sla.counts[300] == WindowCounts(0, 0)


def test_a_replayed_batch_is_not_counted_twice(migrated_database, owner):
    tenant = new_tenant(owner)
    agent = new_agent(owner, tenant)
    new_sla(owner, tenant, agent)
    rows = [(agent, NOW - dt.timedelta(minutes=m), "failure") for m in (1, 90, 600)]
    ids = insert_executions(owner, tenant, rows)
    before = load(migrated_database.app_url, tenant)
    insert_executions(owner, tenant, rows, ids)  # ingest's replay: on conflict do nothing
    assert load(migrated_database.app_url, tenant) == before
    assert before[0].counts[259200] == WindowCounts(3, 3)


def test_only_tenants_with_a_success_rate_sla_in_force_are_listed(migrated_database, owner):
    with_sla, latency_only, without = new_tenant(owner), new_tenant(owner), new_tenant(owner)
    new_sla(owner, with_sla, None)
    new_sla(owner, latency_only, None, target=None)

    async def main() -> list[uuid.UUID]:
        async with Database(migrated_database.app_url) as db:
            return await tenants_with_slas(db)

    listed = asyncio.run(main())
    assert with_sla in listed
    assert latency_only not in listed
    assert without not in listed
    assert load(migrated_database.app_url, without) == []


def test_a_naive_now_is_refused(migrated_database):
    with pytest.raises(ValueError, match="timezone-aware"):
        load(migrated_database.app_url, uuid.uuid4(), NOW.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("now", "window_s", "first_hour", "edges"),
    [
        # 5 min inside one hour: all raw
        ("12:34:56", 300, "12:00", [("12:29:56", "12:34:56")]),
        # 1 h across an hour: no whole hour, both edges raw (one range)
        ("12:34:56", 3600, "12:00", [("11:34:56", "12:34:56")]),
        # 6 h: five whole hours and two edges
        ("12:34:56", 21600, "07:00", [("06:34:56", "07:00:00"), ("12:00:00", "12:34:56")]),
        # on an hour: whole hours only
        ("12:00:00", 3600, "11:00", []),
    ],
)
def test_a_window_splits_into_whole_hours_and_raw_edges(now, window_s, first_hour, edges):
    day = "2026-03-04T"
    parse = lambda t: dt.datetime.fromisoformat(day + t + "+00:00")  # noqa: E731
    assert window_parts(parse(now), window_s) == (
        parse(first_hour),
        [(parse(lo), parse(hi)) for lo, hi in edges],
    )


def test_the_migration_backfills_the_rollup_from_stored_executions(fresh_database, tmp_path: Path):
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, directory)
    later = [p for p in directory.glob("*.sql") if int(p.name[:4]) >= 17]
    held = {p: p.read_text() for p in later}
    for p in later:
        p.unlink()
    migrations.migrate(fresh_database.owner_url, directory=directory)
    with psycopg.connect(fresh_database.owner_url, autocommit=True) as owner:
        owner.execute(
            "select app.ensure_daily_partitions('raw.executions', '2026-03-01', '2026-03-05')"
        )
        tenant = new_tenant(owner)
        agent = new_agent(owner, tenant)
        new_sla(owner, tenant, agent)
        insert_executions(
            owner,
            tenant,
            [(agent, NOW - dt.timedelta(hours=h), s) for h in (0.5, 2, 30)
             for s in ("success", "failure", "cancelled")],
        )  # fmt: skip
        for p, text in held.items():
            p.write_text(text)
        migrations.migrate(fresh_database.owner_url, directory=directory)
        rows = owner.execute(
            "select hour, executions, failures from raw.agent_execution_hourly"
            " where tenant_id = %s order by hour",
            (tenant,),
        ).fetchall()
    assert [(e, f) for _, e, f in rows] == [(2, 1)] * 3
    [sla] = load(fresh_database.app_url, tenant)
    assert sla.counts[259200] == WindowCounts(6, 3)
