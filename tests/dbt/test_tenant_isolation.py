"""The API's role reads marts through RLS like every other table: with a tenant set it sees
that tenant's rows and nothing else, without one it sees nothing."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.dbt.conftest import MARTS

pytestmark = pytest.mark.integration


def _tenant_counts(conn: psycopg.Connection, mart: str) -> dict[object, int]:
    query = sql.SQL("select tenant_id, count(*) from marts.{} group by tenant_id")
    return dict(conn.execute(query.format(sql.Identifier(mart))).fetchall())


@pytest.mark.parametrize("mart", MARTS)
def test_the_app_role_sees_only_the_tenant_it_set(built, mart):
    warehouse, _ = built
    with psycopg.connect(warehouse.db.owner_url) as owner:
        everything = _tenant_counts(owner, mart)
    assert warehouse.tenant_a in everything

    with psycopg.connect(warehouse.db.app_url) as app:
        for tenant in (warehouse.tenant_a, warehouse.tenant_b):
            with app.transaction():
                app.execute("select set_config('app.tenant_id', %s, true)", (str(tenant),))
                seen = _tenant_counts(app, mart)
            assert seen == ({tenant: everything[tenant]} if tenant in everything else {})
        with app.transaction():
            assert _tenant_counts(app, mart) == {}


def test_the_app_role_cannot_read_staging_or_intermediate(built):
    warehouse, _ = built
    with psycopg.connect(warehouse.db.app_url) as app:
        for relation in (
            "staging.stg_raw__executions",
            "intermediate.int_actions_aggregated_to_agent_days",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), app.transaction():
                app.execute(sql.SQL("select 1 from {} limit 1").format(sql.SQL(relation)))


def test_both_tenants_have_rows_in_every_mart_but_the_sla_ones(built):
    warehouse, _ = built
    with psycopg.connect(warehouse.db.owner_url) as owner:
        for mart in MARTS:
            tenants = set(_tenant_counts(owner, mart))
            expected = {warehouse.tenant_a}
            if not mart.startswith("sla_"):  # only tenant A has SLA definitions
                expected.add(warehouse.tenant_b)
            assert tenants == expected, mart
