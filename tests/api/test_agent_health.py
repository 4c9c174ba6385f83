"""Agent health over HTTP: what the realtime worker recorded, read with the staleness rule;
the transition history; the fleet with counts by state; the threshold overrides.

Health rows are written as the realtime worker writes them (every column, see
realtime/health/record.py), here as the owner role, with `evaluated_at` set relative to the
database clock, the clock the API judges staleness by.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from meta_agent.health_thresholds import Thresholds
from meta_agent.settings import Settings
from tests.api.support import Tenant, assert_error, create_agent, ok

pytestmark = pytest.mark.integration

FIVE_MINUTES = {
    "executions": 40, "failures": 14, "error_rate": 0.35, "latency_p50_ms": 812.5,
    "latency_p95_ms": 2400.0, "latency_p99_ms": 3100.25, "cost_usd": "0.01234567",
}  # fmt: skip
ONE_HOUR = {
    "executions": 400, "failures": 20, "error_rate": 0.05, "latency_p50_ms": 700.0,
    "latency_p95_ms": 1900.5, "latency_p99_ms": 2950.0, "cost_usd": "0.50000001",
}  # fmt: skip


def record_health(
    owner: psycopg.Connection,
    tenant: Tenant,
    agent_id: str,
    *,
    state: str = "critical",
    evaluated_ago_s: float = 1,
    version: int = 7,
) -> dict[str, Any]:
    """The agent's `agent_health_realtime` row, every column set; returns it as stored."""
    columns: dict[str, Any] = {"tenant_id": tenant.tenant_id, "agent_id": agent_id, "state": state}
    for suffix, window in (("5m", FIVE_MINUTES), ("1h", ONE_HOUR)):
        columns |= {f"{name}_{suffix}": value for name, value in window.items()}
    columns |= {
        "consecutive_failures": 9,
        "reason": "error rate 0.350 over 40 executions in 5 min ≥ 0.3",
        "details": Jsonb({"five_minutes": {"executions": 40}, "evaluated_ms": 1}),
        "version": version,
    }
    names = ", ".join(columns)
    placeholders = ", ".join(["%s"] * len(columns))
    return owner.execute(
        f"insert into agent_health_realtime ({names}, state_since, last_execution_at,"
        f" evaluated_at) values ({placeholders}, now() - interval '10 minutes',"
        " now() - interval '3 seconds', now() - make_interval(secs => %s))"
        " on conflict (tenant_id, agent_id) do update set evaluated_at = excluded.evaluated_at,"
        " state = excluded.state returning *",
        [*columns.values(), evaluated_ago_s],
        prepare=False,
    ).fetchone()


@pytest.fixture(scope="module")
def owner_dicts(migrated_database: Any, owner: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The owner role (after `owner` made the day partitions), rows as dicts."""
    with psycopg.connect(
        migrated_database.owner_url, autocommit=True, row_factory=dict_row
    ) as conn:
        yield conn


def health(client: TestClient, tenant: Tenant, agent_id: str) -> dict[str, Any]:
    return ok(client.get(f"/v1/agents/{agent_id}/health", headers=tenant.auth("read")))


def test_health_shows_the_recorded_row_number_for_number(
    client: TestClient, owner_dicts: psycopg.Connection, tenant: Tenant
):
    agent = create_agent(client, tenant)
    row = record_health(owner_dicts, tenant, agent["agent_id"])
    got = health(client, tenant, agent["agent_id"])

    assert (got["state"], got["stale"], got["recorded_state"]) == ("critical", False, "critical")
    assert got["agent_name"] == agent["name"]
    assert got["reason"] == row["reason"]
    assert got["version"] == 7
    assert got["consecutive_failures"] == 9
    assert got["details"] == row["details"]
    for field in ("state_since", "evaluated_at", "last_execution_at"):
        assert dt.datetime.fromisoformat(got[field]) == row[field], field
    for name, window in (("five_minutes", "5m"), ("one_hour", "1h")):
        numbers = got[name]
        assert set(numbers) == set(FIVE_MINUTES)
        for key, value in numbers.items():
            stored = row[f"{key}_{window}"]
            if isinstance(stored, Decimal):
                assert Decimal(value) == stored, (name, key)
            else:
                assert value == stored, (name, key)
    assert got["circuit_breaker"] == {
        "state": "closed",
        "state_changed_at": None,
        "open_until": None,
    }


def test_a_row_older_than_the_staleness_limit_reads_as_unknown(
    client: TestClient, owner_dicts: psycopg.Connection, tenant: Tenant
):
    agent = create_agent(client, tenant)
    record_health(owner_dicts, tenant, agent["agent_id"], state="healthy", evaluated_ago_s=30)
    fresh = health(client, tenant, agent["agent_id"])
    assert (fresh["state"], fresh["stale"]) == ("healthy", False)

    # the worker stopped writing: a row 2 minutes old is not trusted (the default limit is 60 s)
    record_health(owner_dicts, tenant, agent["agent_id"], state="healthy", evaluated_ago_s=120)
    stale = health(client, tenant, agent["agent_id"])
    assert (stale["state"], stale["stale"], stale["recorded_state"]) == ("unknown", True, "healthy")
    assert stale["five_minutes"] == fresh["five_minutes"], "the recorded numbers are kept"


def test_the_staleness_limit_is_a_setting(
    build_app, owner_dicts: psycopg.Connection, client: TestClient, tenant: Tenant
):
    agent = create_agent(client, tenant)
    record_health(owner_dicts, tenant, agent["agent_id"], state="degraded", evaluated_ago_s=120)
    lenient = build_app(Settings.model_validate({"health_stale_after_s": 300}))
    with TestClient(lenient) as other:
        got = health(other, tenant, agent["agent_id"])
    assert (got["state"], got["stale"]) == ("degraded", False)
    assert health(client, tenant, agent["agent_id"])["state"] == "unknown"


def test_an_agent_never_evaluated_is_unknown_with_no_numbers(client: TestClient, tenant: Tenant):
    agent = create_agent(client, tenant)
    got = health(client, tenant, agent["agent_id"])
    assert got["state"] == "unknown"
    assert got["stale"] is False
    assert got["recorded_state"] is None
    assert got["version"] == 0
    for field in ("five_minutes", "one_hour", "consecutive_failures", "evaluated_at",
                  "state_since", "last_execution_at", "reason"):  # fmt: skip
        assert got[field] is None, field


def test_the_circuit_breaker_comes_with_the_health(
    client: TestClient, owner_dicts: psycopg.Connection, tenant: Tenant
):
    agent = create_agent(client, tenant)
    owner_dicts.execute(
        "insert into circuit_breaker_states (tenant_id, agent_id, state, state_changed_at,"
        " opened_at, open_until, version) values (%s, %s, 'open', now(), now(),"
        " now() + interval '30 seconds', 3)",
        (tenant.tenant_id, agent["agent_id"]),
    )
    stored = owner_dicts.execute(
        "select state_changed_at, open_until from circuit_breaker_states where agent_id = %s",
        (agent["agent_id"],),
    ).fetchone()
    breaker = health(client, tenant, agent["agent_id"])["circuit_breaker"]
    assert breaker["state"] == "open"
    assert dt.datetime.fromisoformat(breaker["open_until"]) == stored["open_until"]
    assert dt.datetime.fromisoformat(breaker["state_changed_at"]) == stored["state_changed_at"]


AGENT_ROUTES = (
    ("GET", "/v1/agents/{}/health", None),
    ("GET", "/v1/agents/{}/health/transitions", None),
    ("GET", "/v1/agents/{}/health/thresholds", None),
    ("PUT", "/v1/agents/{}/health/thresholds", {"min_samples": 5}),
)


@pytest.mark.parametrize(("method", "path", "body"), AGENT_ROUTES)
def test_another_tenants_agent_is_not_found(
    client: TestClient,
    owner_dicts: psycopg.Connection,
    tenant: Tenant,
    other_tenant: Tenant,
    method: str,
    path: str,
    body: Any,
):
    theirs = create_agent(client, other_tenant)
    record_health(owner_dicts, other_tenant, theirs["agent_id"])
    for agent_id in (theirs["agent_id"], uuid.uuid4()):
        response = client.request(
            method, path.format(agent_id), json=body, headers=tenant.auth("admin")
        )
        assert assert_error(response, 404, "not_found")["message"] == "agent not found"
    unchanged = owner_dicts.execute(
        "select count(*) as n from agent_health_thresholds where agent_id = %s",
        (theirs["agent_id"],),
    ).fetchone()
    assert unchanged["n"] == 0


def record_transition(
    owner: psycopg.Connection, tenant: Tenant, agent_id: str, version: int, ago_s: int
) -> None:
    states = ("healthy", "degraded", "critical")
    owner.execute(
        "insert into agent_health_transitions (tenant_id, agent_id, from_state, to_state,"
        " transitioned_at, reason, metrics, version)"
        " values (%s, %s, %s, %s, now() - make_interval(secs => %s), %s, %s, %s)",
        (
            tenant.tenant_id, agent_id, states[(version - 1) % 3], states[version % 3],
            ago_s, f"transition {version}", Jsonb({"consecutive_failures": version}), version,
        ),
    )  # fmt: skip


def test_transitions_come_newest_first_a_page_at_a_time(
    client: TestClient, owner_dicts: psycopg.Connection, tenant: Tenant, other_tenant: Tenant
):
    agent = create_agent(client, tenant)
    neighbour = create_agent(client, tenant)
    for version in range(1, 6):
        record_transition(owner_dicts, tenant, agent["agent_id"], version, ago_s=600 - version)
    record_transition(owner_dicts, tenant, neighbour["agent_id"], 1, ago_s=1)
    url = f"/v1/agents/{agent['agent_id']}/health/transitions"

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = ok(client.get(url, params=params, headers=tenant.auth("read")))
        assert len(page["items"]) <= 2
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [t["version"] for t in seen] == [5, 4, 3, 2, 1]
    assert seen[0]["reason"] == "transition 5"
    assert seen[0]["metrics"] == {"consecutive_failures": 5}
    assert (seen[0]["from_state"], seen[0]["to_state"]) == ("degraded", "critical")
    bad = client.get(url, params={"cursor": "not-a-cursor"}, headers=tenant.auth("read"))
    assert_error(bad, 422, "invalid_request")


def test_the_fleet_lists_every_agent_with_counts_by_effective_state(
    client: TestClient, owner_dicts: psycopg.Connection, tenant: Tenant, other_tenant: Tenant
):
    agents = {label: create_agent(client, tenant, name=f"{label}-agent") for label in
              ("a-healthy", "b-degraded", "c-critical", "d-stale", "e-never", "f-archived")}  # fmt: skip
    for label, state, ago in (("a-healthy", "healthy", 1), ("b-degraded", "degraded", 1),
                              ("c-critical", "critical", 1), ("d-stale", "critical", 600),
                              ("f-archived", "healthy", 1)):  # fmt: skip
        record_health(owner_dicts, tenant, agents[label]["agent_id"], state=state,
                      evaluated_ago_s=ago)  # fmt: skip
    ok(client.post(f"/v1/agents/{agents['f-archived']['agent_id']}/archive",
                   headers=tenant.auth("write")))  # fmt: skip
    theirs = create_agent(client, other_tenant)
    record_health(owner_dicts, other_tenant, theirs["agent_id"], state="critical")

    fleet = ok(client.get("/v1/health", headers=tenant.auth("read")))
    by_name = {item["agent_name"]: item for item in fleet["items"]}
    assert list(by_name) == [f"{label}-agent" for label in
                             ("a-healthy", "b-degraded", "c-critical", "d-stale", "e-never")]  # fmt: skip
    assert [i["state"] for i in fleet["items"]] == [
        "healthy", "degraded", "critical", "unknown", "unknown"
    ]  # fmt: skip
    assert by_name["d-stale-agent"]["stale"] is True
    assert by_name["d-stale-agent"]["recorded_state"] == "critical"
    assert fleet["counts"] == {
        "total": 5, "healthy": 1, "degraded": 1, "critical": 1, "unknown": 2, "stale": 1
    }  # fmt: skip
    assert fleet["stale_after_s"] == 60
    assert fleet["next_cursor"] is None

    unknown = ok(client.get("/v1/health?state=unknown", headers=tenant.auth("read")))
    assert [i["agent_name"] for i in unknown["items"]] == ["d-stale-agent", "e-never-agent"]
    assert unknown["counts"] == fleet["counts"], "the counts cover the whole fleet"
    critical = ok(client.get("/v1/health?state=critical", headers=tenant.auth("read")))
    assert [i["agent_name"] for i in critical["items"]] == ["c-critical-agent"]

    names, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = ok(client.get("/v1/health", params=params, headers=tenant.auth("read")))
        names += [i["agent_name"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == list(by_name)
    assert_error(client.get("/v1/health?state=sickly", headers=tenant.auth("read")), 422)


def test_an_empty_fleet_has_zero_counts(client: TestClient, tenant: Tenant):
    fleet = ok(client.get("/v1/health", headers=tenant.auth("read")))
    assert fleet["items"] == []
    assert set(fleet["counts"].values()) == {0}


THRESHOLDS = {
    "error_rate_degraded": 0.05, "error_rate_critical": 0.2,
    "p95_sla_multiplier_degraded": 1.5, "p95_sla_multiplier_critical": 3.0,
    "consecutive_failures_degraded": 2, "consecutive_failures_critical": 5,
    "silence_minutes": 30, "min_samples": 10, "hysteresis_ratio": 0.5,
    "hysteresis_min_seconds": 120, "slow_call_ms": 15_000,
}  # fmt: skip


def stored_thresholds(owner: psycopg.Connection, agent_id: str) -> dict[str, Any] | None:
    return owner.execute(
        "select * from agent_health_thresholds where agent_id = %s", (agent_id,)
    ).fetchone()


def test_thresholds_start_as_defaults_and_a_put_replaces_them(
    client: TestClient, owner_dicts: psycopg.Connection, tenant: Tenant
):
    agent = create_agent(client, tenant, sla_p95_ms=4_000)
    url = f"/v1/agents/{agent['agent_id']}/health/thresholds"
    initial = ok(client.get(url, headers=tenant.auth("read")))
    assert initial["overrides"] == dict.fromkeys(THRESHOLDS)
    assert (initial["updated_by"], initial["updated_at"], initial["sla_p95_ms"]) == (
        None, None, 4_000
    )  # fmt: skip
    defaults = Thresholds(sla_p95_ms=4_000)
    assert initial["effective"] == {
        **{name: getattr(defaults, name) for name in THRESHOLDS if name != "slow_call_ms"},
        "slow_call_ms": 4_000,  # no threshold of its own: the SLA p95
    }

    put = ok(client.put(url, json=THRESHOLDS, headers=tenant.auth("write")))
    assert put["overrides"] == THRESHOLDS
    writer = f"key:{tenant.keys['write'].api_key_id}"
    assert put["updated_by"] == writer
    row = stored_thresholds(owner_dicts, agent["agent_id"])
    assert {name: row[name] for name in THRESHOLDS} == THRESHOLDS
    assert row["updated_by"] == writer
    assert ok(client.get(url, headers=tenant.auth("read"))) == put

    # a PUT is the whole set: what it leaves out returns to the default
    partial = ok(client.put(url, json={"min_samples": 50}, headers=tenant.auth("admin")))
    assert partial["overrides"] == dict.fromkeys(THRESHOLDS) | {"min_samples": 50}
    assert partial["effective"]["min_samples"] == 50
    assert partial["effective"]["error_rate_degraded"] == defaults.error_rate_degraded
    assert partial["updated_by"] == f"key:{tenant.keys['admin'].api_key_id}"
    cleared = ok(client.put(url, json={}, headers=tenant.auth("write")))
    assert cleared["overrides"] == dict.fromkeys(THRESHOLDS)
    row = stored_thresholds(owner_dicts, agent["agent_id"])
    assert {name: row[name] for name in THRESHOLDS} == dict.fromkeys(THRESHOLDS)


def test_one_of_a_pair_may_be_set_alone(client: TestClient, tenant: Tenant):
    """The table checks a pair only when both are set; realtime moves the other default."""
    agent = create_agent(client, tenant)
    url = f"/v1/agents/{agent['agent_id']}/health/thresholds"
    put = ok(client.put(url, json={"error_rate_degraded": 0.9}, headers=tenant.auth("write")))
    assert put["overrides"]["error_rate_degraded"] == 0.9
    assert put["overrides"]["error_rate_critical"] is None


INVALID_THRESHOLDS = {
    "error rate above 1": ({"error_rate_critical": 1.5}, "error_rate_critical"),
    "negative error rate": ({"error_rate_degraded": -0.1}, "error_rate_degraded"),
    "zero multiplier": ({"p95_sla_multiplier_degraded": 0}, "p95_sla_multiplier_degraded"),
    "zero failures": ({"consecutive_failures_critical": 0}, "consecutive_failures_critical"),
    "zero samples": ({"min_samples": 0}, "min_samples"),
    "ratio above 1": ({"hysteresis_ratio": 1.01}, "hysteresis_ratio"),
    "negative seconds": ({"hysteresis_min_seconds": -1}, "hysteresis_min_seconds"),
    "number as text": ({"silence_minutes": "15"}, "silence_minutes"),
    "fraction of a count": ({"min_samples": 2.5}, "min_samples"),
    "beyond a 32-bit column": ({"slow_call_ms": 2**31}, "slow_call_ms"),
    "unknown field": ({"error_rate": 0.1}, "error_rate"),
    "degraded above critical": (
        {"error_rate_degraded": 0.5, "error_rate_critical": 0.2}, "error_rate_degraded"
    ),
    "multipliers reversed": (
        {"p95_sla_multiplier_degraded": 3, "p95_sla_multiplier_critical": 2},
        "p95_sla_multiplier_critical",
    ),
    "failures reversed": (
        {"consecutive_failures_degraded": 9, "consecutive_failures_critical": 8},
        "consecutive_failures_degraded",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "named"), INVALID_THRESHOLDS.values(), ids=list(INVALID_THRESHOLDS)
)
def test_invalid_thresholds_are_refused_and_nothing_changes(
    client: TestClient, owner_dicts: psycopg.Connection, tenant: Tenant, body: Any, named: str
):
    agent = create_agent(client, tenant)
    url = f"/v1/agents/{agent['agent_id']}/health/thresholds"
    ok(client.put(url, json={"min_samples": 7}, headers=tenant.auth("write")))
    before = stored_thresholds(owner_dicts, agent["agent_id"])

    error = assert_error(client.put(url, json=body, headers=tenant.auth("write")), 422)
    assert named in str(error["details"]), error
    assert stored_thresholds(owner_dicts, agent["agent_id"]) == before


def test_changing_thresholds_needs_the_write_scope(
    client: TestClient, owner_dicts: psycopg.Connection, tenant: Tenant
):
    agent = create_agent(client, tenant)
    url = f"/v1/agents/{agent['agent_id']}/health/thresholds"
    error = assert_error(client.put(url, json={}, headers=tenant.auth("read")), 403, "forbidden")
    assert "write" in error["message"]
    assert stored_thresholds(owner_dicts, agent["agent_id"]) is None
