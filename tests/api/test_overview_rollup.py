"""The overview's 24-hour numbers come from an hourly rollup kept by a trigger (migration
0012) plus raw rows at the window's edges; they must equal a direct count over raw rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.routers.overview import _OVERVIEW, window_bounds
from tests.api.support import Tenant, create_agent, insert_execution

pytestmark = pytest.mark.integration

_DIRECT = """
select count(*) as executions,
       count(*) filter (where status in ('failure', 'timeout')) as failures,
       coalesce(sum(cost_usd) filter (where started_at >= %(today)s), 0) as cost_today
from raw.executions
where tenant_id = %(tenant)s and started_at >= %(since)s and started_at <= %(as_of)s
"""


def _overview_as_of(app_url: str, tenant: Tenant, as_of: dt.datetime) -> tuple:
    """The API's query, as the API's role, under the tenant's RLS."""
    with psycopg.connect(app_url) as conn:
        conn.execute("select set_config('app.tenant_id', %s, true)", (str(tenant.tenant_id),))
        row = conn.execute(_OVERVIEW, window_bounds(as_of)).fetchone()
    assert row is not None
    return row[4], row[5], Decimal(row[6])


def _direct(owner: psycopg.Connection, tenant: Tenant, as_of: dt.datetime) -> tuple:
    params = {**window_bounds(as_of), "tenant": tenant.tenant_id}
    row = owner.execute(_DIRECT, params).fetchone()
    assert row is not None
    return row[0], row[1], Decimal(row[2])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offsets_s=st.lists(st.integers(-27 * 3600, 2 * 3600), min_size=1, max_size=12),
    statuses=st.lists(
        st.sampled_from(["success", "failure", "timeout", "cancelled"]), min_size=12, max_size=12
    ),
    as_of_s=st.integers(0, 2 * 24 * 3600),
)
def test_the_rollup_and_its_edges_equal_a_direct_count(
    client, new_tenant, owner, urls, offsets_s: list[int], statuses: list[str], as_of_s: int
):
    tenant = new_tenant()
    agent = create_agent(client, tenant)
    owner.execute(
        "select app.ensure_daily_partitions('raw.executions', '2026-02-26', '2026-03-04')"
    )
    # an as_of anywhere in two days, often right on an hour or a midnight
    as_of = dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=as_of_s)
    if as_of_s % 3 == 0:
        as_of = as_of.replace(minute=0, second=0, microsecond=0)
    for n, offset in enumerate(offsets_s):
        insert_execution(
            owner, tenant, agent["agent_id"], status=statuses[n],
            started_at=as_of + dt.timedelta(seconds=offset), cost_usd=f"0.{n + 1}",
        )  # fmt: skip
    # the window's edges, which share their hours with rows outside it: just before the
    # window (outside), its first instant and just after, as_of itself, and just after as_of
    since = as_of - dt.timedelta(hours=24)
    second = dt.timedelta(seconds=1)
    for started_at in (since - second, since, since + second, as_of, as_of + second):
        insert_execution(owner, tenant, agent["agent_id"], started_at=started_at, cost_usd="2")
    assert _overview_as_of(urls.app_database_url, tenant, as_of) == _direct(owner, tenant, as_of)


def test_a_replayed_insert_counts_once(client, tenant: Tenant, owner: psycopg.Connection):
    agent = create_agent(client, tenant)
    started_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    execution_id = insert_execution(owner, tenant, agent["agent_id"], started_at=started_at)
    # ingest's way of storing a replayed event: on conflict do nothing stores and counts nothing
    owner.execute(
        "insert into raw.executions select * from raw.executions"
        " where execution_id = %s on conflict do nothing",
        (execution_id,),
    )
    hour = started_at.replace(minute=0, second=0, microsecond=0)
    count = owner.execute(
        "select executions from raw.execution_hourly where tenant_id = %s and hour = %s",
        (tenant.tenant_id, hour),
    ).fetchone()
    assert count == (1,)
