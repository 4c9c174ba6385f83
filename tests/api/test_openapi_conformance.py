"""Schemathesis against the app's own OpenAPI document, in process, on the real database.

Every operation gets its documented examples, the coverage phase (boundary and invalid values
of every parameter) and 100 fuzzed cases, in both generation modes: positive (valid per the
document: must not be refused as invalid) and negative (invalid: must be refused with a 4xx).
Every built-in check runs on every response. The key is an admin key of a tenant with agents,
prompt versions, dependencies, traced executions, SLA definitions and a day of every mart the
API reads; positive cases name those real ids about half of the time, so the handlers past the
404 are exercised too, and carry only cursors the API handed out (a cursor is opaque: no
document can describe the valid ones). What else no document can say, positive cases are made
to respect here: a date range runs forwards and spans at most a year, an SLA sets a target.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis.python import asgi

from api.app import create_app
from api.schemas.agent_health import ORDERED_PAIRS
from api.schemas.metrics import MAX_RANGE_DAYS
from api.schemas.sla import TARGETS
from meta_agent.breaker.config import MAX_TIME_WINDOW_SECONDS
from meta_agent.connections import ServerUrls
from meta_agent.settings import load_settings
from meta_agent.tenants import create_api_key
from tests.api.support import (
    Tenant,
    World,
    create_agent,
    create_sla,
    insert_alert,
    insert_execution,
    insert_mart_rows,
    ok,
    seed_world,
)

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 100

CONFIG = {
    "generation": {
        # pinned, not left to the default: valid and invalid data alike
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        # Postgres cannot store NUL in text or jsonb, so the API refuses it with a 422 naming
        # the field (test_bad_input); the document cannot say "no NUL" for free-form JSON,
        # so valid cases must not carry it.
        "allow-x00": False,
        # every case carries the real key (below); missing and bad keys are the `ignored_auth`
        # check's probes and test_every_route's cases
        "with-security-parameters": False,
    },
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},  # needs links in the document, which it does not have
    },
    "checks": {"enabled": True},
}


@dataclass
class Known:
    """Real ids of the fuzzed tenant by the parameter names that carry them, real cursors by
    operation path, and the statuses the fuzzer got by operation."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    # agents only the archive operation gets, so the others stay open to change
    archivable: list[str] = field(default_factory=list)
    # SLA definitions only the retire operation gets, so the others stay open to change
    retirable: list[str] = field(default_factory=list)
    # (agent, one of its versions), for the paths that name both
    pairs: list[tuple[str, str]] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)
    # (agent, downstream agent) of dependencies that exist, for the paths that name both
    edges: list[tuple[str, str]] = field(default_factory=list)
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def substitute(self, case: schemathesis.Case, container: Any, draw: Any) -> None:
        if not isinstance(container, dict):
            return
        if {"agent_id", "downstream_agent_id"} <= set(container) and draw(st.booleans()):
            container["agent_id"], container["downstream_agent_id"] = draw(
                st.sampled_from(self.edges)
            )
            return
        if {"agent_id", "prompt_version_id"} <= set(container) and draw(st.booleans()):
            container["agent_id"], container["prompt_version_id"] = draw(
                st.sampled_from(self.pairs)
            )
            return
        for name, ids in self.ids.items():
            if name == "agent_id" and case.operation.path.endswith("/archive"):
                ids = self.archivable
            if name == "sla_definition_id" and case.operation.method.upper() == "DELETE":
                ids = self.retirable
            if name == "downstream_agent_id":
                # an agent depending on itself is a 422 no document can rule out
                ids = [i for i in ids if i != str(case.path_parameters.get("agent_id"))]
            if name in container and ids and draw(st.booleans()):
                container[name] = draw(st.sampled_from(ids))

    def edge_across(self, case: schemathesis.Case, draw: Any) -> None:
        """A dependency's POST names its upstream in the path and its downstream in the body:
        half the time, an existing edge (an upsert, so a 2xx). Two ids drawn apart from a
        handful of agents are too often a cycle or an archived agent (a clean run once got
        139 cases and no 2xx)."""
        path, body = case.path_parameters, case.body
        if not (isinstance(path, dict) and isinstance(body, dict)) or not self.edges:
            return
        if "agent_id" in path and "downstream_agent_id" in body and draw(st.booleans()):
            path["agent_id"], body["downstream_agent_id"] = draw(st.sampled_from(self.edges))

    def real_cursor(self, case: schemathesis.Case) -> None:
        """A valid case carries a cursor the API made (a made-up one is rightly a 422)."""
        if isinstance(case.query, dict) and "cursor" in case.query:
            case.query["cursor"] = self.cursors[case.operation.path]


def forward_range(case: schemathesis.Case) -> None:
    """A valid case's `from` is not after its `to` (or today, its default), and the range spans
    at most MAX_RANGE_DAYS: two rules across parameters, a 422 no document can rule out."""
    query = case.query
    if not isinstance(query, dict) or not isinstance(query.get("from"), str):
        return
    first = dt.date.fromisoformat(query["from"])
    last = (
        dt.date.fromisoformat(query["to"])
        if isinstance(query.get("to"), str)
        else dt.datetime.now(dt.UTC).date()
    )
    first, last = min(first, last), max(first, last)
    if (last - first).days >= MAX_RANGE_DAYS:
        first = last - dt.timedelta(days=MAX_RANGE_DAYS - 1)
    query["from"], query["to"] = first.isoformat(), last.isoformat()


def sets_a_target(case: schemathesis.Case) -> None:
    """A valid SLA body leaves at least one target: a rule across fields (and, for a change,
    across the body and the stored definition, whose targets the seed sets all of)."""
    body = case.body
    if case.operation.path != "/v1/sla-definitions" or not isinstance(body, dict):
        return
    if all(body.get(name) is None for name in TARGETS):
        body["target_success_rate"] = 0.99


def keeps_a_target(case: schemathesis.Case) -> None:
    body = case.body
    if case.operation.method.upper() != "PATCH" or not isinstance(body, dict):
        return
    if "sla_definition_id" in case.operation.path and all(
        name in body and body[name] is None for name in TARGETS
    ):
        del body[TARGETS[0]]


def _cursor(client: TestClient, tenant: Tenant, url: str) -> str:
    page = ok(client.get(url, params={"limit": 1}, headers=tenant.auth("read")))
    assert page["next_cursor"], url
    return str(page["next_cursor"])


def orders_threshold_pairs(case: schemathesis.Case) -> None:
    """A valid thresholds body has each degraded value at most its critical one when both are
    set: a rule across fields, a 422 no document can rule out."""
    body = case.body
    if not case.operation.path.endswith("/health/thresholds") or not isinstance(body, dict):
        return
    for low, high in ORDERED_PAIRS:
        lower, upper = body.get(low), body.get(high)
        if isinstance(lower, (int, float)) and isinstance(upper, (int, float)) and lower > upper:
            body[low], body[high] = upper, lower


def fits_a_breaker(case: schemathesis.Case) -> None:
    """A valid breaker config keeps a count window's min_calls within its size and the longest
    open period at least the first: rules across fields, 422s no document can rule out."""
    body = case.body
    if not case.operation.path.endswith("/circuit/config") or not isinstance(body, dict):
        return

    def number(name: str, default: int) -> float | None:
        value = body.get(name, default)  # JSON's 1139.0 is a valid integer too
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    size, least = number("window_size", 100), number("min_calls", 20)
    if body.get("window_kind", "count") == "time" and size is not None:
        body["window_size"] = min(size, MAX_TIME_WINDOW_SECONDS)
    elif size is not None and least is not None:
        body["min_calls"] = min(least, size)
    first, longest = number("open_duration_ms", 30_000), number("max_open_duration_ms", 600_000)
    if first is not None and longest is not None:
        body["max_open_duration_ms"] = max(first, longest)


# a working config of each channel kind: no document can say which configs a kind accepts
CHANNEL_CONFIGS: dict[str, dict[str, Any]] = {
    "webhook": {"url": "https://hooks.example.com/fuzzed"},
    "slack": {},
    "email": {"to": ["oncall@example.com"], "from_email": "alerts@example.com"},
    "clickup": {"list_id": "901"},
}


def works_as_a_channel(case: schemathesis.Case) -> None:
    """A valid channel body has a config its kind accepts, the secret that kind needs and one
    secret at most: rules across fields and kinds, 422s no document can rule out. (The seeded
    channels are webhooks, which always need a secret.)"""
    body = case.body
    if not case.operation.path.startswith("/v1/notification-channels"):
        return
    if not isinstance(body, dict):
        return
    if body.get("secret_env_var") == "METAAGENT_SECRET_KEY":
        body["secret_env_var"] = "METAAGENT_SECRET_FUZZED"
    if body.get("secret") is not None:
        body.pop("secret_env_var", None)
    body.pop("remove_secret", None)
    if case.operation.method.upper() == "POST":
        body["config"] = CHANNEL_CONFIGS[body["kind"]]
        if body.get("secret") is None and body.get("secret_env_var") is None:
            body["secret"] = "fuzzed-secret"
    elif "config" in body:
        body["config"] = CHANNEL_CONFIGS["webhook"]


def holds_in_utc(case: schemathesis.Case) -> None:
    """A date-time the schema allows can name a moment of year 0 or 10000 in UTC
    (0001-01-01T00:30+01:00), which the API refuses with a 422 of its own: not a valid case."""
    body = case.body
    if not isinstance(body, dict):
        return
    for name, value in body.items():
        if not isinstance(value, str) or not name.endswith("_at"):
            continue
        try:
            dt.datetime.fromisoformat(value).astimezone(dt.UTC)
        except OverflowError:
            body[name] = "2000-01-01T00:00:00Z"
        except ValueError:
            pass


def ends_after_it_starts(case: schemathesis.Case) -> None:
    """A valid silence ends after it starts (or after now): a rule across fields."""
    body = case.body
    if case.operation.path != "/v1/alert-silences" or not isinstance(body, dict):
        return
    if not isinstance(body.get("ends_at"), str):
        return
    start = body.get("starts_at")
    begins = dt.datetime.fromisoformat(start) if isinstance(start, str) else None
    if dt.datetime.fromisoformat(body["ends_at"]) <= (begins or dt.datetime.now(dt.UTC)):
        body.pop("starts_at", None)
        body["ends_at"] = "2999-01-01T00:00:00Z"


def seed(client: TestClient, owner: psycopg.Connection, tenant: Tenant) -> Known:
    worlds: list[World] = [seed_world(client, owner, tenant) for _ in range(2)]
    for world in worlds:
        insert_execution(owner, tenant, world.other_agent_id, status="failure", error_type="Boom")
        insert_execution(owner, tenant, world.agent_id, status="running")
    agents = [str(a) for w in worlds for a in w.agent_ids]
    versions = [str(v) for w in worlds for v in w.prompt_version_ids]
    # keys the fuzzer may revoke; never the admin key it authenticates with
    spares = [str(w.spare_key_id) for w in worlds]
    spares += [
        str(create_api_key(owner, tenant.tenant_id, scopes=["read"], name="spare").api_key_id)
        for _ in range(2)
    ]
    slas = [str(w.sla_definition_id) for w in worlds]
    for world in worlds:
        insert_mart_rows(
            owner, tenant, world.agent_id, day=dt.datetime.now(dt.UTC).date(), marker="fuzzed",
            sla_definition_id=world.sla_definition_id,
        )  # fmt: skip
    ids = {
        "agent_id": agents,
        "downstream_agent_id": agents,
        "prompt_version_id": versions,
        "parent_version_id": versions,
        "against": versions,
        "execution_id": [str(e) for w in worlds for e in w.execution_ids],
        "api_key_id": spares,
        "sla_definition_id": slas,
        # open alerts to acknowledge and resolve, dead letters to retry
        "alert_id": [str(w.alerting.alert_id) for w in worlds]
        + [str(insert_alert(owner, tenant, worlds[0].agent_id)) for _ in range(6)],
        "alert_delivery_id": [str(w.alerting.alert_delivery_id) for w in worlds],
        "notification_channel_id": [str(w.alerting.notification_channel_id) for w in worlds],
        "alert_routing_rule_id": [str(w.alerting.alert_routing_rule_id) for w in worlds],
        "alert_silence_id": [str(w.alerting.alert_silence_id) for w in worlds],
    }
    archivable = [create_agent(client, tenant)["agent_id"] for _ in range(2)]
    retirable = [
        create_sla(client, tenant, agent_id=create_agent(client, tenant)["agent_id"])[
            "sla_definition_id"
        ]
        for _ in range(2)
    ]
    pairs = [(str(w.agent_id), str(v)) for w in worlds for v in w.prompt_version_ids]
    first = worlds[0].agent_id
    for action in ("force_open", "reset"):  # two breaker events and two health transitions
        body = {"action": action, "reason": "seed"}
        ok(client.post(f"/v1/agents/{first}/circuit", json=body, headers=tenant.auth("write")))
    for version, (before, after) in enumerate([("unknown", "healthy"), ("healthy", "degraded")]):
        owner.execute(
            "insert into agent_health_transitions"
            " (tenant_id, agent_id, from_state, to_state, version) values (%s, %s, %s, %s, %s)",
            (tenant.tenant_id, first, before, after, version + 1),
        )
    cursors = {
        "/v1/agents": _cursor(client, tenant, "/v1/agents"),
        "/v1/health": _cursor(client, tenant, "/v1/health"),
        "/v1/agents/{agent_id}/health/transitions": _cursor(
            client, tenant, f"/v1/agents/{first}/health/transitions"
        ),
        "/v1/agents/{agent_id}/circuit/events": _cursor(
            client, tenant, f"/v1/agents/{first}/circuit/events"
        ),
        "/v1/agents/{agent_id}/prompt-versions": _cursor(
            client, tenant, f"/v1/agents/{worlds[0].agent_id}/prompt-versions"
        ),
        "/v1/executions": _cursor(client, tenant, "/v1/executions"),
        "/v1/sla-definitions": _cursor(client, tenant, "/v1/sla-definitions"),
        "/v1/alerts": _cursor(client, tenant, "/v1/alerts"),
        "/v1/alert-deliveries": _cursor(client, tenant, "/v1/alert-deliveries"),
    }
    # seed_world makes each world's agent depend on its other agent
    edges = [(str(w.agent_id), str(w.other_agent_id)) for w in worlds]
    return Known(ids, archivable, retirable, pairs, cursors, edges=edges)


# The document is read from an app that is never started (building it connects nowhere), so it
# can be loaded at collection time; the cases are sent to a started app on the real database.
# (`schemathesis.pytest.from_fixture` would defer the loading, but it fails under pytest 9.2.)
_UNSTARTED = ServerUrls("postgresql://unused@/unused", "postgresql://unused@/unused", "redis://")
schema = schemathesis.openapi.from_dict(
    create_app(load_settings({}), _UNSTARTED).openapi(),
    config=schemathesis.Config.from_dict(CONFIG),
)
known = Known()


@schema.hook
def flatmap_case(context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    """Positive fuzzed cases name real ids about half of the time."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return st.just(case)

    @st.composite
    def with_known_ids(draw: Any) -> schemathesis.Case:
        for container in (case.path_parameters, case.query, case.body):
            known.substitute(case, container, draw)
        known.edge_across(case, draw)
        return case

    return with_known_ids()


@pytest.fixture(scope="module")
def fuzzed_tenant(new_tenant) -> Tenant:
    return new_tenant("fuzzed")


@pytest.fixture(scope="module")
def fuzzed_app(
    build_app, api_settings, client: TestClient, owner, fuzzed_tenant: Tenant
) -> Iterator[FastAPI]:
    """An app of its own, whose lifespan schemathesis runs on its own event loop."""
    seeded = seed(client, owner, fuzzed_tenant)
    known.ids, known.archivable, known.pairs = seeded.ids, seeded.archivable, seeded.pairs
    known.retirable = seeded.retirable
    known.cursors, known.edges = seeded.cursors, seeded.edges
    yield build_app(api_settings)
    asgi.shutdown_lifespans()


@schema.parametrize()
def test_every_operation_conforms_to_the_openapi_document(
    case: schemathesis.Case, fuzzed_app: FastAPI, fuzzed_tenant: Tenant
):
    # the case and the checks' own probes (the same call without the key, say) go to this app
    case.operation.app = case.operation.schema.app = fuzzed_app
    if case.meta is not None and case.meta.generation.mode.is_positive:
        known.real_cursor(case)
        forward_range(case)
        sets_a_target(case)
        orders_threshold_pairs(case)
        fits_a_breaker(case)
        keeps_a_target(case)
        works_as_a_channel(case)
        holds_in_utc(case)
        ends_after_it_starts(case)
    response = case.call_and_validate(headers=fuzzed_tenant.auth("admin"))
    known.statuses[case.operation.label][response.status_code] += 1


def test_the_fuzzer_got_past_the_404s_on_every_operation():
    """Each operation answered a fuzzed case with success at least once: the real ids and
    cursors made it to the handlers, not only to validation and the not-found path."""
    if not known.statuses:
        pytest.skip("runs after the conformance test in the same session")
    missed = {
        label: dict(counts)
        for label, counts in known.statuses.items()
        if not any(200 <= status < 300 for status in counts)
    }
    assert missed == {}
    operations = {
        f"{method.upper()} {path}"
        for path, methods in schema.raw_schema["paths"].items()
        for method in methods
    }
    assert set(known.statuses) == operations
