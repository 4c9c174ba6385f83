"""Webhook signatures: what `sign` writes, the documented verifier accepts, and nothing else."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from meta_agent.alerting.channels.signature import (
    InvalidSignature,
    ReplayedDelivery,
    SignatureVerifier,
    parse,
    sign,
)

SECRET = "whsec_0123456789abcdef"
NOW = 1_750_000_000
BODY = json.dumps({"event": "alert.opened", "delivery_id": "d-1"}).encode()


def verifier(secret=SECRET, now=NOW, **kw):
    return SignatureVerifier(secret, clock=lambda: now, **kw)


def test_the_header_is_the_documented_hmac_of_timestamp_and_body():
    header = sign(SECRET, BODY, NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_a_signed_request_verifies_once_and_its_replay_is_rejected():
    v = verifier()
    header = sign(SECRET, BODY, NOW)
    v.verify(header, BODY, "d-1")
    with pytest.raises(ReplayedDelivery):
        v.verify(header, BODY, "d-1")


def test_a_retry_of_the_same_delivery_is_a_replay_too():
    v = verifier()
    v.verify(sign(SECRET, BODY, NOW - 10), BODY, "d-1")
    with pytest.raises(ReplayedDelivery):
        v.verify(sign(SECRET, BODY, NOW), BODY, "d-1")


def test_delivery_ids_are_forgotten_after_the_tolerance_window():
    clock = [NOW]
    v = SignatureVerifier(SECRET, tolerance_s=300, clock=lambda: clock[0])
    v.verify(sign(SECRET, BODY, NOW), BODY, "d-1")
    clock[0] = NOW + 301
    v.verify(sign(SECRET, BODY, NOW + 301), BODY, "d-1")


@pytest.mark.parametrize("age_s", [301, -301, 10_000])
def test_a_stale_or_future_timestamp_is_rejected(age_s):
    with pytest.raises(InvalidSignature, match="tolerance"):
        verifier().verify(sign(SECRET, BODY, NOW - age_s), BODY, "d-1")


def test_a_tampered_body_or_a_wrong_secret_is_rejected():
    header = sign(SECRET, BODY, NOW)
    with pytest.raises(InvalidSignature, match="does not match"):
        verifier().verify(header, BODY.replace(b"opened", b"resolved"), "d-1")
    with pytest.raises(InvalidSignature, match="does not match"):
        verifier("another-secret").verify(header, BODY, "d-1")


def test_the_delivery_header_must_be_the_signed_one():
    with pytest.raises(InvalidSignature, match="delivery id"):
        verifier().verify(sign(SECRET, BODY, NOW), BODY, "d-2")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"t={NOW}",
        "v1=abc",
        "t=soon,v1=abc",
        f"t={NOW},t={NOW},v1=abc",
        "t=²,v1=abc",
    ],
)
def test_malformed_headers_are_rejected(header):
    with pytest.raises(InvalidSignature):
        verifier().verify(header, BODY, "d-1")


def test_rotation_signs_with_both_secrets_and_either_verifies():
    header = sign(["new-secret", SECRET], BODY, NOW)
    assert len(parse(header)[1]) == 2
    verifier(SECRET).verify(header, BODY, "d-1")
    verifier("new-secret").verify(header, BODY, "d-1")
    verifier(["new-secret", "old-secret"]).verify(sign("old-secret", BODY, NOW), BODY, "d-1")


def test_unknown_schemes_are_ignored_for_forward_compatibility():
    header = sign(SECRET, BODY, NOW) + ",v2=whatever"
    verifier().verify(header, BODY, "d-1")


def test_an_empty_secret_is_refused():
    with pytest.raises(ValueError, match="empty"):
        sign("", BODY, NOW)
