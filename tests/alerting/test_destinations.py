"""Which addresses an alert channel may send to when private ones are not allowed, and where
that is allowed by default."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from meta_agent.alerting.destinations import is_public
from meta_agent.settings import load_settings

NOT_PUBLIC = [
    *("10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1"),
    *("0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1"),  # noqa: S104
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_the_servers_own_network_is_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_an_internet_address_is_public(address: str) -> None:
    assert is_public(address)


def test_private_addresses_are_allowed_outside_production_unless_the_operator_says() -> None:
    key = Fernet.generate_key().decode()
    production = {"METAAGENT_ENVIRONMENT": "production", "METAAGENT_SECRET_KEY": key}
    assert load_settings({"METAAGENT_ENVIRONMENT": "development"}).private_addresses_allowed
    assert load_settings({"METAAGENT_ENVIRONMENT": "test"}).private_addresses_allowed
    assert not load_settings(production).private_addresses_allowed
    allowed = {**production, "METAAGENT_CHANNEL_PRIVATE_ADDRESSES": "true"}
    assert load_settings(allowed).private_addresses_allowed
    refused = {"METAAGENT_ENVIRONMENT": "development", "METAAGENT_CHANNEL_PRIVATE_ADDRESSES": "0"}
    assert not load_settings(refused).private_addresses_allowed
