"""/v1/notification-channels: a config is checked by its kind (every problem at once) and holds
no secret; the secret is stored encrypted or named by a server variable, and no response, list
or error ever carries it."""

from __future__ import annotations

import uuid

import pytest

from meta_agent.alerting.secrets import decrypt_secret
from tests.api.support import assert_error, create_channel, ok

pytestmark = pytest.mark.integration

URL = "/v1/notification-channels"
HOOK = {"url": "https://hooks.example.com/in"}


def _stored(owner, channel_id):
    return owner.execute(
        "select secret_env_var, secret_ciphertext, config from notification_channels"
        " where notification_channel_id = %s",
        (channel_id,),
    ).fetchone()


def test_a_plain_secret_is_stored_encrypted_and_never_shown(client, owner, tenant, api_settings):
    secret = f"whsec-{uuid.uuid4().hex}"
    made = create_channel(client, tenant, secret=secret, supports_digest=True)
    assert (made["has_secret"], made["secret_source"], made["secret_env_var"]) == (
        True, "encrypted", None,
    )  # fmt: skip
    assert made["created_by"].startswith("admin-key [key ")
    assert made["config"]["url"] == "https://hooks.example.com/metaagent"
    env_var, ciphertext, _ = _stored(owner, made["notification_channel_id"])
    assert env_var is None
    assert secret.encode() not in bytes(ciphertext)
    assert decrypt_secret(bytes(ciphertext), api_settings) == secret
    channel_url = f"{URL}/{made['notification_channel_id']}"
    for response in (client.get(URL, headers=tenant.auth("read")),
                     client.get(channel_url, headers=tenant.auth("read"))):  # fmt: skip
        assert secret not in response.text
        assert "ciphertext" not in response.text


def test_a_secret_may_be_a_server_variable_by_name(client, owner, tenant):
    made = create_channel(client, tenant, secret=None, secret_env_var="METAAGENT_SECRET_HOOK")
    assert (made["has_secret"], made["secret_source"], made["secret_env_var"]) == (
        True, "env", "METAAGENT_SECRET_HOOK",
    )  # fmt: skip
    for bad in ("METAAGENT_DATABASE_URL", "METAAGENT_SECRET_KEY", "metaagent_secret_x"):
        body = {"kind": "webhook", "name": f"h-{bad}", "config": HOOK, "secret_env_var": bad}
        assert_error(client.post(URL, json=body, headers=tenant.auth()), 422, "invalid_request")


def test_every_config_problem_is_listed(client, tenant):
    body = {"kind": "email", "name": "mail", "config": {"min_severity": "loud"}}
    error = assert_error(client.post(URL, json=body, headers=tenant.auth()), 422)
    problems = [d["message"] for d in error["details"]]
    assert any(p.startswith("secret: required") for p in problems), problems
    assert any(p.startswith("to:") for p in problems), problems
    assert any(p.startswith("from_email:") for p in problems), problems
    assert any(p.startswith("min_severity:") for p in problems), problems


@pytest.mark.parametrize(
    "config",
    [
        {**HOOK, "headers": {"X-Token": "abc"}, "api_key": "k"},
        {"url": "https://hooks.slack.com/services/T000/B000/XXXX"},
        {**HOOK, "headers": {"Authorization": "Bearer abc"}},
    ],
)
def test_a_secret_in_the_config_is_refused_and_not_echoed(client, owner, tenant, config):
    body = {"kind": "webhook", "name": "leaky", "config": config, "secret": "s"}
    response = client.post(URL, json=body, headers=tenant.auth())
    error = assert_error(response, 422, "invalid_request")
    assert any("secret" in d["message"] for d in error["details"]), error
    assert "XXXX" not in response.text
    assert "Bearer abc" not in response.text
    count = owner.execute(
        "select count(*) from notification_channels where tenant_id = %s", (tenant.tenant_id,)
    ).fetchone()
    assert count == (0,)


def test_both_secret_forms_at_once_are_refused(client, tenant):
    body = {"kind": "webhook", "name": "two", "config": HOOK, "secret": "s",
            "secret_env_var": "METAAGENT_SECRET_HOOK"}  # fmt: skip
    assert_error(client.post(URL, json=body, headers=tenant.auth()), 422)


def test_patch_renames_disables_rotates_and_removes_the_secret(client, owner, tenant):
    made = create_channel(client, tenant, kind="slack", config={}, secret="https://x.example/1")
    url = f"{URL}/{made['notification_channel_id']}"
    _, before, _ = _stored(owner, made["notification_channel_id"])

    changed = ok(client.patch(url, json={"name": "ops", "enabled": False}, headers=tenant.auth()))
    assert (changed["name"], changed["enabled"], changed["has_secret"]) == ("ops", False, True)

    rotated = ok(client.patch(url, json={"secret": "https://x.example/2"}, headers=tenant.auth()))
    assert rotated["secret_source"] == "encrypted"
    _, after, _ = _stored(owner, made["notification_channel_id"])
    assert bytes(after) != bytes(before)
    assert "x.example/2" not in client.get(url, headers=tenant.auth()).text

    # slack needs its webhook URL: removing the only secret leaves a channel that cannot work
    error = assert_error(
        client.patch(url, json={"remove_secret": True}, headers=tenant.auth()), 422
    )
    assert any("secret: required" in d["message"] for d in error["details"])
    moved = ok(
        client.patch(url, json={"secret_env_var": "METAAGENT_SECRET_SLACK"}, headers=tenant.auth())
    )
    assert (moved["secret_source"], moved["secret_env_var"]) == ("env", "METAAGENT_SECRET_SLACK")
    assert _stored(owner, made["notification_channel_id"])[1] is None

    bad = {"config": {"min_severity": "loud"}}
    assert_error(client.patch(url, json=bad, headers=tenant.auth()), 422)
    assert_error(client.patch(url, json={"name": None}, headers=tenant.auth()), 422)
    assert ok(client.patch(url, json={}, headers=tenant.auth()))["name"] == "ops"


def test_names_are_unique_in_a_tenant(client, tenant):
    made = create_channel(client, tenant)
    assert_error(
        client.post(
            URL,
            json={"kind": "webhook", "name": made["name"], "config": HOOK, "secret": "s"},
            headers=tenant.auth(),
        ),
        409,
        "conflict",
    )


def test_channels_are_admin_to_change_and_private_to_their_tenant(client, tenant, other_tenant):
    theirs = create_channel(client, other_tenant)
    url = f"{URL}/{theirs['notification_channel_id']}"
    assert_error(client.get(url, headers=tenant.auth()), 404, "not_found")
    assert_error(client.patch(url, json={"enabled": False}, headers=tenant.auth()), 404)
    assert ok(client.get(URL, headers=tenant.auth("read"))) == []
    body = {"kind": "webhook", "name": "w", "config": HOOK, "secret": "s"}
    error = assert_error(client.post(URL, json=body, headers=tenant.auth("write")), 403)
    assert "admin" in error["message"]


@pytest.mark.parametrize("kind", ["email", "clickup"])
def test_a_server_variables_secret_goes_only_to_the_services_own_url(client, owner, tenant, kind):
    """SendGrid's key and ClickUp's token travel to the config's `base_url`. A tenant admin who
    could name the operator's variable and a URL of their own would receive the operator's key:
    a server variable's secret goes to the service's URL only; the channel's own secret may go
    anywhere."""
    base = {"email": {"to": ["ops@example.com"], "from_email": "a@example.com"},
            "clickup": {"list_id": "901"}}[kind]  # fmt: skip
    own_url = {**base, "base_url": "https://collector.example.net"}
    env = {"secret_env_var": "METAAGENT_SECRET_OPERATORS"}

    refused = client.post(
        URL, json={"kind": kind, "name": "out", "config": own_url, **env}, headers=tenant.auth()
    )
    error = assert_error(refused, 422, "invalid_request")
    assert any(d["message"].startswith("base_url: a secret held in a server variable")
               for d in error["details"]), error  # fmt: skip

    served = create_channel(client, tenant, kind=kind, name="served", config=base, secret=None,
                            **env)  # fmt: skip
    own = create_channel(client, tenant, kind=kind, name="own", config=own_url, secret="mine")
    # the same, reached by a change: the URL under a variable's secret, a variable under the URL
    to_url = client.patch(f"{URL}/{served['notification_channel_id']}",
                          json={"config": own_url}, headers=tenant.auth())  # fmt: skip
    to_env = client.patch(f"{URL}/{own['notification_channel_id']}", json=env,
                          headers=tenant.auth())  # fmt: skip
    assert_error(to_url, 422, "invalid_request")
    assert_error(to_env, 422, "invalid_request")
    stored = owner.execute(
        "select name, secret_env_var, config->>'base_url' from notification_channels"
        " where tenant_id = %s order by name",
        (tenant.tenant_id,),
    ).fetchall()
    service = {"email": "https://api.sendgrid.com", "clickup": "https://api.clickup.com"}[kind]
    assert stored == [("own", None, "https://collector.example.net"),
                      ("served", "METAAGENT_SECRET_OPERATORS", service)]  # fmt: skip
