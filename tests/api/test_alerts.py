"""/v1/alerts and /v1/alert-deliveries: alerts the engine opened, filtered and paged; a
person's acknowledgement and resolution, recorded and notified; the dead letters and their
retry. Another tenant's alert or delivery is a 404 like an unknown one."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.api.alerting import fire
from tests.api.support import (
    assert_error,
    create_agent,
    create_channel,
    insert_alert,
    insert_delivery,
    ok,
)

pytestmark = pytest.mark.integration


def _states(owner, alert_id) -> list[str]:
    rows = owner.execute(
        "select state_change from alert_deliveries where alert_id = %s order by created_at",
        (alert_id,),
    ).fetchall()
    return [r[0] for r in rows]


def test_acknowledge_then_resolve_is_recorded_and_notified(client, owner, urls, tenant):
    agent = create_agent(client, tenant)
    secret = f"plain-{uuid.uuid4().hex}"
    channel = create_channel(client, tenant, secret=secret)
    opened = fire(urls, tenant.tenant_id, agent["agent_id"])
    assert (opened.opened, opened.queued) == (True, 1)
    alert_id = opened.alert_id
    assert _states(owner, alert_id) == ["opened"]

    shown = ok(client.get(f"/v1/alerts/{alert_id}", headers=tenant.auth("read")))
    assert (shown["status"], shown["agent_name"], shown["occurrence_count"]) == (
        "open", agent["name"], 1,
    )  # fmt: skip
    [delivery] = shown["deliveries"]
    assert delivery["notification_channel_id"] == channel["notification_channel_id"]
    assert (delivery["channel_name"], delivery["channel_kind"]) == (channel["name"], "webhook")
    assert (delivery["state_change"], delivery["status"], delivery["attempts"]) == (
        "opened", "pending", 0,
    )  # fmt: skip

    url = f"/v1/alerts/{alert_id}"
    acked = ok(client.post(f"{url}/acknowledge", headers=tenant.auth("write")))
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"].startswith("write-key [key ")
    assert acked["acknowledged_at"] is not None
    assert acked["seconds_to_acknowledge"] >= 0
    assert _states(owner, alert_id) == ["opened", "acknowledged"]
    assert_error(client.post(f"{url}/acknowledge", headers=tenant.auth("write")), 409, "conflict")

    body = {"comment": "rolled back the prompt"}
    resolved = ok(client.post(f"{url}/resolve", json=body, headers=tenant.auth("write")))
    assert resolved["status"] == "resolved"
    assert resolved["resolved_by"].startswith("write-key [key ")
    assert resolved["seconds_to_resolve"] >= resolved["seconds_to_acknowledge"]
    assert resolved["auto_resolved"] is False
    assert [d["state_change"] for d in resolved["deliveries"]] == [
        "opened", "acknowledged", "resolved",
    ]  # fmt: skip
    for action in ("resolve", "acknowledge"):
        error = assert_error(client.post(f"{url}/{action}", headers=tenant.auth()), 409)
        assert "resolved" in error["message"]
    # the secret went into the channel, and out of no response
    for response in (
        client.get(url, headers=tenant.auth()),
        client.get("/v1/alerts", headers=tenant.auth()),
        client.get("/v1/alert-deliveries", headers=tenant.auth()),
        client.get("/v1/notification-channels", headers=tenant.auth()),
    ):
        assert secret not in response.text


def test_a_resolved_alert_can_be_resolved_straight_from_open(client, urls, tenant):
    agent = create_agent(client, tenant)
    alert_id = fire(urls, tenant.tenant_id, agent["agent_id"]).alert_id
    resolved = ok(client.post(f"/v1/alerts/{alert_id}/resolve", headers=tenant.auth("write")))
    assert (resolved["status"], resolved["acknowledged_at"]) == ("resolved", None)


def test_unknown_and_other_tenants_alerts_are_not_found(client, owner, tenant, other_tenant):
    agent = create_agent(client, other_tenant)
    theirs = insert_alert(owner, other_tenant, agent["agent_id"])
    for alert_id in (theirs, uuid.uuid4()):
        url = f"/v1/alerts/{alert_id}"
        assert_error(client.get(url, headers=tenant.auth()), 404, "not_found")
        for action in ("acknowledge", "resolve"):
            assert_error(client.post(f"{url}/{action}", headers=tenant.auth()), 404, "not_found")
    status = owner.execute("select status from alerts where alert_id = %s", (theirs,)).fetchone()
    assert status == ("open",)


def test_the_list_filters_and_pages_newest_first(client, owner, tenant):
    one, two = create_agent(client, tenant), create_agent(client, tenant)
    now = dt.datetime.now(dt.UTC)
    made = {
        "old": insert_alert(owner, tenant, one["agent_id"], first_seen_at=now - dt.timedelta(days=3)),
        "crit": insert_alert(owner, tenant, one["agent_id"], severity="critical",
                             alert_type="latency_spike", first_seen_at=now - dt.timedelta(hours=2)),
        "acked": insert_alert(owner, tenant, two["agent_id"], status="acknowledged",
                              acknowledged_at=now, acknowledged_by="someone",
                              first_seen_at=now - dt.timedelta(hours=1)),
        "done": insert_alert(owner, tenant, None, status="resolved", resolved_at=now,
                             resolved_by="someone", alert_type="budget_exceeded",
                             first_seen_at=now - dt.timedelta(minutes=1)),
    }  # fmt: skip
    ids = {v: k for k, v in made.items()}

    def names(query: str) -> list[str]:
        page = ok(client.get(f"/v1/alerts?{query}", headers=tenant.auth("read")))
        return [ids[uuid.UUID(a["alert_id"])] for a in page["items"]]

    assert names("limit=500") == ["done", "acked", "crit", "old"]
    assert names("status=open") == ["crit", "old"]
    assert names("status=open&status=acknowledged") == ["acked", "crit", "old"]
    assert names("severity=critical") == ["crit"]
    assert names("alert_type=latency_spike&alert_type=budget_exceeded") == ["done", "crit"]
    assert names(f"agent={one['agent_id']}") == ["crit", "old"]
    since = (now - dt.timedelta(days=1)).isoformat()
    until = (now - dt.timedelta(minutes=30)).isoformat()
    assert names(f"since={since}&until={until}".replace("+", "%2B")) == ["acked", "crit"]

    first = ok(client.get("/v1/alerts?limit=3", headers=tenant.auth("read")))
    rest = ok(
        client.get(f"/v1/alerts?limit=3&cursor={first['next_cursor']}", headers=tenant.auth())
    )
    assert [a["alert_id"] for a in first["items"] + rest["items"]] == [
        str(made[n]) for n in ("done", "acked", "crit", "old")
    ]
    assert rest["next_cursor"] is None
    done = ok(client.get(f"/v1/alerts/{made['done']}", headers=tenant.auth()))
    assert (done["agent_id"], done["agent_name"], done["deliveries"]) == (None, None, [])


def test_a_dead_letter_is_listed_and_retried_once(client, owner, tenant, other_tenant):
    agent = create_agent(client, tenant)
    channel = create_channel(client, tenant)
    alert_id = insert_alert(owner, tenant, agent["agent_id"])
    dead = insert_delivery(owner, tenant, alert_id, channel["notification_channel_id"])
    sent = insert_delivery(
        owner, tenant, alert_id, channel["notification_channel_id"], status="sent",
        state_change="acknowledged", sent_at=dt.datetime.now(dt.UTC), last_error=None,
    )  # fmt: skip
    page = ok(client.get("/v1/alert-deliveries?status=dead_letter", headers=tenant.auth("read")))
    assert [d["alert_delivery_id"] for d in page["items"]] == [str(dead)]
    assert page["items"][0]["last_error"] == "HTTP 500"

    retried = ok(client.post(f"/v1/alert-deliveries/{dead}/retry", headers=tenant.auth("write")))
    assert (retried["status"], retried["attempts"]) == ("pending", 0)
    due = dt.datetime.fromisoformat(retried["next_attempt_at"])
    assert abs((due - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    for delivery_id in (dead, sent):
        url = f"/v1/alert-deliveries/{delivery_id}/retry"
        assert (
            "dead-lettered" in assert_error(client.post(url, headers=tenant.auth()), 409)["message"]
        )
    assert (
        ok(client.get("/v1/alert-deliveries?status=dead_letter", headers=tenant.auth()))["items"]
        == []
    )

    other_channel = create_channel(client, other_tenant)
    theirs = insert_delivery(
        owner, other_tenant, insert_alert(owner, other_tenant, None),
        other_channel["notification_channel_id"],
    )  # fmt: skip
    url = f"/v1/alert-deliveries/{theirs}/retry"
    assert_error(client.post(url, headers=tenant.auth()), 404, "not_found")
    row = owner.execute(
        "select status from alert_deliveries where alert_delivery_id = %s", (theirs,)
    ).fetchone()
    assert row == ("dead_letter",)


def test_acting_on_alerts_needs_the_write_scope(client, urls, tenant):
    alert_id = fire(urls, tenant.tenant_id, create_agent(client, tenant)["agent_id"]).alert_id
    error = assert_error(
        client.post(f"/v1/alerts/{alert_id}/acknowledge", headers=tenant.auth("read")), 403
    )
    assert "write" in error["message"]
