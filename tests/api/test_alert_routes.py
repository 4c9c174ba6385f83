"""/v1/alert-routes, /v1/alert-silences and /v1/alert-settings: the rules that decide which
channel hears of an alert, the silences that mute it for a while, and the tenant's policy,
each seen by the alert engine as the API stored it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from meta_agent.alerting.policy import AlertPolicy
from tests.api.alerting import fire
from tests.api.support import assert_error, create_agent, create_channel, ok

pytestmark = pytest.mark.integration

ROUTES = "/v1/alert-routes"
SILENCES = "/v1/alert-silences"


def _later(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).isoformat()


def _delivered_to(owner, alert_id) -> set[str]:
    rows = owner.execute(
        "select notification_channel_id::text from alert_deliveries where alert_id = %s",
        (alert_id,),
    ).fetchall()
    return {r[0] for r in rows}


def test_rules_are_created_listed_in_walk_order_changed_and_followed(client, owner, urls, tenant):
    agent = create_agent(client, tenant)
    pager, chat = create_channel(client, tenant), create_channel(client, tenant)
    body = {
        "notification_channel_id": pager["notification_channel_id"],
        "name": "critical to the pager", "severities": ["critical", "emergency", "critical"],
        "agent_id": agent["agent_id"], "priority": 10, "stop_after_match": True,
    }  # fmt: skip
    first = ok(client.post(ROUTES, json=body, headers=tenant.auth("write")), 201)
    assert first["severities"] == ["critical", "emergency"]
    assert (first["alert_types"], first["delivery_mode"], first["enabled"]) == (
        None, "immediate", True,
    )  # fmt: skip
    assert first["created_by"].startswith("write-key [key ")
    body = {"notification_channel_id": chat["notification_channel_id"], "priority": 50}
    second = ok(client.post(ROUTES, json=body, headers=tenant.auth("write")), 201)
    listed = ok(client.get(ROUTES, headers=tenant.auth("read")))
    assert [r["alert_routing_rule_id"] for r in listed] == [
        first["alert_routing_rule_id"], second["alert_routing_rule_id"],
    ]  # fmt: skip

    # a critical alert stops at the pager; a warning one falls through to the chat
    critical = fire(urls, tenant.tenant_id, agent["agent_id"], severity="critical")
    assert _delivered_to(owner, critical.alert_id) == {pager["notification_channel_id"]}
    warning = fire(
        urls, tenant.tenant_id, agent["agent_id"], alert_type="latency_spike", severity="warning"
    )
    assert _delivered_to(owner, warning.alert_id) == {chat["notification_channel_id"]}

    url = f"{ROUTES}/{second['alert_routing_rule_id']}"
    changed = ok(
        client.patch(
            url, json={"alert_types": ["cost_spike"], "enabled": False}, headers=tenant.auth()
        )
    )
    assert (changed["alert_types"], changed["enabled"], changed["priority"]) == (
        ["cost_spike"], False, 50,
    )  # fmt: skip
    assert (
        ok(client.patch(url, json={"alert_types": None}, headers=tenant.auth()))["alert_types"]
        is None
    )
    assert ok(client.get(url, headers=tenant.auth("read")))["enabled"] is False
    assert_error(client.patch(url, json={"severities": []}, headers=tenant.auth()), 422)
    assert_error(client.patch(url, json={"enabled": None}, headers=tenant.auth()), 422)


def test_a_rule_names_only_its_own_tenants_channel_and_agent(client, tenant, other_tenant):
    own = create_channel(client, tenant)
    theirs = create_channel(client, other_tenant)
    their_agent = create_agent(client, other_tenant)
    for body, field in (
        ({"notification_channel_id": theirs["notification_channel_id"]},
         "notification_channel_id"),
        ({"notification_channel_id": str(uuid.uuid4())}, "notification_channel_id"),
        ({"notification_channel_id": own["notification_channel_id"],
          "agent_id": their_agent["agent_id"]}, "agent_id"),
    ):  # fmt: skip
        error = assert_error(client.post(ROUTES, json=body, headers=tenant.auth()), 404)
        assert error["details"][0]["location"] == ["body", field]
    assert ok(client.get(ROUTES, headers=tenant.auth())) == []

    body = {"notification_channel_id": theirs["notification_channel_id"]}
    rule = ok(client.post(ROUTES, json=body, headers=other_tenant.auth()), 201)
    url = f"{ROUTES}/{rule['alert_routing_rule_id']}"
    assert_error(client.get(url, headers=tenant.auth()), 404, "not_found")
    assert_error(client.patch(url, json={"priority": 1}, headers=tenant.auth()), 404)
    mine = ok(
        client.post(ROUTES, json={"notification_channel_id": own["notification_channel_id"]},
                    headers=tenant.auth()), 201,
    )  # fmt: skip
    move = {"notification_channel_id": theirs["notification_channel_id"]}
    url = f"{ROUTES}/{mine['alert_routing_rule_id']}"
    assert_error(client.patch(url, json=move, headers=tenant.auth()), 404, "not_found")


def test_a_silence_mutes_matching_alerts_until_it_is_expired(client, owner, urls, tenant):
    agent = create_agent(client, tenant)
    create_channel(client, tenant)
    body = {"matchers": {"agent": agent["name"]}, "ends_at": _later(hours=2), "comment": "deploy"}
    silence = ok(client.post(SILENCES, json=body, headers=tenant.auth("write")), 201)
    assert (silence["active"], silence["comment"]) == (True, "deploy")
    assert silence["created_by"].startswith("write-key [key ")

    muted = fire(urls, tenant.tenant_id, agent["agent_id"])
    assert (muted.opened, muted.queued) == (True, 0)
    assert _delivered_to(owner, muted.alert_id) == set()

    url = f"{SILENCES}/{silence['alert_silence_id']}/expire"
    expired = ok(client.post(url, headers=tenant.auth("write")))
    assert expired["active"] is False
    assert dt.datetime.fromisoformat(expired["ends_at"]) <= dt.datetime.now(dt.UTC)
    assert ok(client.post(url, headers=tenant.auth("write")))["ends_at"] == expired["ends_at"]
    assert ok(client.get(SILENCES, headers=tenant.auth("read"))) == []
    listed = ok(client.get(f"{SILENCES}?include_ended=true", headers=tenant.auth("read")))
    assert [s["alert_silence_id"] for s in listed] == [silence["alert_silence_id"]]

    heard = fire(urls, tenant.tenant_id, agent["agent_id"], alert_type="latency_spike")
    assert heard.queued == 1


def test_a_future_silence_expired_never_takes_effect(client, tenant):
    body = {"matchers": {"alert_type": "cost_spike"}, "starts_at": _later(hours=1),
            "ends_at": _later(hours=2)}  # fmt: skip
    silence = ok(client.post(SILENCES, json=body, headers=tenant.auth()), 201)
    assert silence["active"] is False
    url = f"{SILENCES}/{silence['alert_silence_id']}/expire"
    expired = ok(client.post(url, headers=tenant.auth()))
    assert expired["starts_at"] < expired["ends_at"]
    assert dt.datetime.fromisoformat(expired["ends_at"]) <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    "body",
    [
        {"matchers": {}, "ends_at": "2999-01-01T00:00:00Z"},
        {"matchers": {"agent": "a"}, "ends_at": "2000-01-01T00:00:00Z"},
        {"matchers": {"agent": "a"}, "starts_at": "2999-01-02T00:00:00Z",
         "ends_at": "2999-01-01T00:00:00Z"},
        {"matchers": {"agent": 5}, "ends_at": "2999-01-01T00:00:00Z"},
        {"matchers": {"agent": "a"}},
    ],
)  # fmt: skip
def test_a_silence_must_match_something_and_end_after_it_starts(client, tenant, body):
    assert_error(client.post(SILENCES, json=body, headers=tenant.auth()), 422, "invalid_request")


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("starts_at", {"matchers": {"agent": "a"}, "starts_at": "0001-01-01T00:49:01+02:00",
                       "ends_at": "2999-01-01T00:00:00Z"}),
        ("ends_at", {"matchers": {"agent": "a"}, "ends_at": "9999-12-31T23:00:00-02:00"}),
    ],
)  # fmt: skip
def test_a_moment_of_year_0_or_10000_in_utc_is_refused_by_name(client, tenant, field, body):
    """Valid RFC 3339 text, but no moment Python holds in UTC: refused with the field named,
    not by the database with a generic 422."""
    response = client.post(SILENCES, json=body, headers=tenant.auth())
    assert_error(response, 422, "invalid_request")
    assert [d["location"] for d in response.json()["error"]["details"]] == [["body", field]]


def test_other_tenants_silences_are_not_found(client, tenant, other_tenant):
    body = {"matchers": {"agent": "a"}, "ends_at": _later(hours=1)}
    theirs = ok(client.post(SILENCES, json=body, headers=other_tenant.auth()), 201)
    url = f"{SILENCES}/{theirs['alert_silence_id']}/expire"
    assert_error(client.post(url, headers=tenant.auth()), 404, "not_found")
    assert ok(client.get(f"{SILENCES}?include_ended=true", headers=tenant.auth())) == []


def test_the_policy_is_replaced_under_its_own_key_only(client, owner, tenant):
    assert ok(client.get("/v1/alert-settings", headers=tenant.auth("read"))) == (
        AlertPolicy().model_dump(mode="json")
    )
    owner.execute(
        'update tenants set settings = settings || \'{"theme": "dark"}\' where tenant_id = %s',
        (tenant.tenant_id,),
    )
    body = {"dedup_window_s": 600, "resolve_after_s": 0, "severities": {"cost_spike": "critical"}}
    stored = ok(client.put("/v1/alert-settings", json=body, headers=tenant.auth("write")))
    assert stored == {**AlertPolicy().model_dump(mode="json"), **body}
    assert ok(client.get("/v1/alert-settings", headers=tenant.auth("read"))) == stored
    settings = owner.execute(
        "select settings from tenants where tenant_id = %s", (tenant.tenant_id,)
    ).fetchone()[0]
    assert settings["theme"] == "dark"
    assert AlertPolicy.from_settings(settings).dedup_window_s == 600
    for bad in ({"dedup_window_s": -1}, {"severities": {"cost_spike": "loud"}}, {"retries": 2}):
        assert_error(client.put("/v1/alert-settings", json=bad, headers=tenant.auth()), 422)
    assert ok(client.get("/v1/alert-settings", headers=tenant.auth())) == stored
