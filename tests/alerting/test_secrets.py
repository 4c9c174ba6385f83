"""Channel secrets: Fernet round trip, key rotation, the dev key file, production's refusal,
and env var references that never leak a value."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet

from meta_agent.alerting.secrets import (
    SecretError,
    SecretKeyMissing,
    decrypt_secret,
    encrypt_secret,
    resolve_secret,
)
from meta_agent.errors import MetaAgentError, SettingsError
from meta_agent.settings import load_settings

SLACK_URL = "https://hooks.slack.com/services/T1/B1/abc123"


@pytest.fixture(autouse=True)
def _no_process_key(monkeypatch):
    """These tests give each settings object its own key (or none): the suite's process-wide
    METAAGENT_SECRET_KEY (tests/conftest.py) would otherwise be read too."""
    monkeypatch.delenv("METAAGENT_SECRET_KEY", raising=False)


def settings_with(tmp_path, **env):
    return load_settings(
        {"METAAGENT_HOME": str(tmp_path), **{f"METAAGENT_{k.upper()}": v for k, v in env.items()}}
    )


def test_a_secret_round_trips_and_the_ciphertext_does_not_contain_it(tmp_path):
    settings = settings_with(tmp_path, secret_key=Fernet.generate_key().decode())
    ciphertext = encrypt_secret(SLACK_URL, settings)
    assert SLACK_URL.encode() not in ciphertext
    assert decrypt_secret(ciphertext, settings) == SLACK_URL


def test_rotation_keeps_old_ciphertext_readable_and_encrypts_with_the_first_key(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = encrypt_secret("s3cret", settings_with(tmp_path, secret_key=old))
    rotated = settings_with(tmp_path, secret_key=f"{new},{old}")
    assert decrypt_secret(before, rotated) == "s3cret"
    after = encrypt_secret("s3cret", rotated)
    assert Fernet(new.encode()).decrypt(after) == b"s3cret"
    with pytest.raises(SecretError, match="cannot be decrypted"):
        decrypt_secret(before, settings_with(tmp_path, secret_key=new))


def test_development_makes_a_private_key_file_once(tmp_path):
    settings = settings_with(tmp_path / "home")
    ciphertext = encrypt_secret("s3cret", settings)
    key_file = tmp_path / "home" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    assert decrypt_secret(ciphertext, settings_with(tmp_path / "home")) == "s3cret"
    assert key_file.read_bytes() == key, "the key is created once, then reused"


def test_production_without_a_key_is_a_clear_error_and_writes_no_key_file(tmp_path):
    settings = settings_with(tmp_path, environment="production")
    with pytest.raises(SecretKeyMissing, match="METAAGENT_SECRET_KEY") as caught:
        encrypt_secret("s3cret", settings)
    assert isinstance(caught.value, MetaAgentError)
    assert not (tmp_path / "secret.key").exists()


def test_a_malformed_key_is_a_settings_error_that_does_not_echo_it(tmp_path):
    with pytest.raises(SettingsError, match="METAAGENT_SECRET_KEY") as caught:
        settings_with(tmp_path, secret_key="hunter2-not-a-fernet-key")
    assert "hunter2" not in str(caught.value)


def test_channel_secret_variables_are_not_unknown_settings(tmp_path):
    settings_with(tmp_path, secret_slack_ops=SLACK_URL)
    with pytest.raises(SettingsError, match="unknown setting METAAGENT_SECRT_SLACK"):
        load_settings({"METAAGENT_SECRT_SLACK": "x"})


def test_an_env_var_reference_is_read_from_the_given_environment(tmp_path):
    settings = settings_with(tmp_path)
    env = {"METAAGENT_SECRET_SLACK_OPS": SLACK_URL}
    assert (
        resolve_secret(
            env_var="METAAGENT_SECRET_SLACK_OPS", ciphertext=None, settings=settings, environ=env
        )
        == SLACK_URL
    )


def test_a_missing_variable_is_named_without_any_value(tmp_path):
    with pytest.raises(SecretError, match="METAAGENT_SECRET_SLACK_OPS is not set"):
        resolve_secret(
            env_var="METAAGENT_SECRET_SLACK_OPS",
            ciphertext=None,
            settings=settings_with(tmp_path),
            environ={},
        )


@pytest.mark.parametrize(
    "name", ["METAAGENT_DATABASE_URL", "METAAGENT_SECRET_", "metaagent_secret_x", SLACK_URL]
)
def test_only_secret_prefixed_variables_can_be_referenced(tmp_path, name):
    environ = {name: "leak-me"}
    with pytest.raises(SecretError) as caught:
        resolve_secret(
            env_var=name, ciphertext=None, settings=settings_with(tmp_path), environ=environ
        )
    assert "leak-me" not in str(caught.value)
    assert "hooks.slack" not in str(caught.value)


def test_the_master_key_variable_is_never_a_channel_secret(tmp_path):
    key = Fernet.generate_key().decode()
    with pytest.raises(SecretError, match="not a channel's"):
        resolve_secret(
            env_var="METAAGENT_SECRET_KEY",
            ciphertext=None,
            settings=settings_with(tmp_path, secret_key=key),
            environ={"METAAGENT_SECRET_KEY": key},
        )


def test_ciphertext_references_are_decrypted_and_no_reference_is_none(tmp_path):
    settings = settings_with(tmp_path, secret_key=Fernet.generate_key().decode())
    ciphertext = encrypt_secret("tok", settings)
    assert resolve_secret(env_var=None, ciphertext=ciphertext, settings=settings) == "tok"
    assert resolve_secret(env_var=None, ciphertext=None, settings=settings) is None
