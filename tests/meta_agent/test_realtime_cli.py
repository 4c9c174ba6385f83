"""`meta_agent circuit …` and `meta_agent health` against the real Postgres and Redis: an
override is atomic in Redis, recorded with the operator and reason, and shown back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from meta_agent import tenants
from meta_agent.cli import app
from meta_agent.settings import get_settings

runner = CliRunner()


@pytest.fixture
def tenant_agent(migrated_database: Any, redis_url: str, monkeypatch) -> Iterator[tuple[str, str]]:
    monkeypatch.setenv("METAAGENT_DATABASE_URL", migrated_database.owner_url)
    monkeypatch.setenv("METAAGENT_APP_DATABASE_URL", migrated_database.app_url)
    monkeypatch.setenv("METAAGENT_REDIS_URL", redis_url)
    get_settings.cache_clear()
    name = f"cli-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(migrated_database.owner_url, autocommit=True) as conn:
        tenant_id = tenants.create_tenant(conn, name)
        conn.execute("insert into agents (tenant_id, name) values (%s, 'writer')", (tenant_id,))
    yield name, migrated_database.owner_url
    get_settings.cache_clear()


def test_force_open_show_and_reset(tenant_agent):
    tenant, owner_url = tenant_agent
    opened = runner.invoke(
        app, ["circuit", "force-open", "writer", "--tenant", tenant, "--reason", "vendor outage"]
    )
    assert opened.exit_code == 0, opened.output
    assert "writer: circuit forced_open" in opened.output
    shown = runner.invoke(app, ["circuit", "show", "writer", "--tenant", tenant])
    assert shown.exit_code == 0, shown.output
    assert "forced by cli:" in shown.output
    assert "vendor outage" in shown.output
    health = runner.invoke(app, ["health", "--tenant", tenant, "--json"])
    assert health.exit_code == 0, health.output
    row = json.loads(health.output.strip().splitlines()[0])
    assert (row["name"], row["state"], row["circuit"]) == ("writer", "unknown", "forced_open")
    reset = runner.invoke(app, ["circuit", "reset", "writer", "--tenant", tenant, "--reason", "ok"])
    assert reset.exit_code == 0, reset.output
    with psycopg.connect(owner_url) as conn:
        causes = conn.execute(
            "select to_state, actor from circuit_breaker_events e join tenants t using (tenant_id)"
            " where t.name = %s order by version",
            (tenant,),
        ).fetchall()
    assert [state for state, _ in causes] == ["forced_open", "closed"]
    assert all(actor.startswith("cli:") for _, actor in causes)


def test_an_override_without_reason_or_for_an_unknown_agent_is_refused(tenant_agent):
    tenant, _ = tenant_agent
    no_reason = runner.invoke(app, ["circuit", "force-open", "writer", "--tenant", tenant])
    assert no_reason.exit_code != 0
    assert "--reason is required" in str(no_reason.exception or no_reason.output)
    unknown = runner.invoke(app, ["circuit", "reset", "ghost", "--tenant", tenant, "--reason", "x"])
    assert unknown.exit_code != 0
    assert "no agent 'ghost'" in str(unknown.exception or unknown.output)
