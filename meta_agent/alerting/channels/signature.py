"""Signatures of MetaAgent webhooks, and a verifier a receiver can copy.

Every webhook request carries
    X-MetaAgent-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>
    X-MetaAgent-Delivery:  <delivery id, also the body's "delivery_id">
    X-MetaAgent-Event:     <event, e.g. alert.opened>
While a secret is being rotated the header holds one `v1=` per secret; a receiver accepts the
request when any of them matches any secret it knows.

To verify (standard library only, so this module can be copied into a receiver):

    verifier = SignatureVerifier(os.environ["METAAGENT_WEBHOOK_SECRET"])
    try:
        verifier.verify(headers["X-MetaAgent-Signature"], raw_body,
                        headers["X-MetaAgent-Delivery"])
    except ReplayedDelivery:
        return 200  # already handled: the sender retries when it missed our answer
    except InvalidSignature:
        return 401

Always verify the raw bytes as received, before parsing the JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Sequence

SIGNATURE_HEADER = "X-MetaAgent-Signature"
DELIVERY_HEADER = "X-MetaAgent-Delivery"
EVENT_HEADER = "X-MetaAgent-Event"
SCHEME = "v1"


class InvalidSignature(Exception):
    """The request was not signed by a holder of the secret, or not recently."""


class ReplayedDelivery(InvalidSignature):
    """A correctly signed delivery seen before: process it once, answer 2xx again."""


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _secrets(secret: str | Sequence[str]) -> list[str]:
    found = [secret] if isinstance(secret, str) else list(secret)
    if not found or not all(found):
        raise ValueError("a webhook signing secret cannot be empty")
    return found


def sign(secret: str | Sequence[str], body: bytes, timestamp: int) -> str:
    """The `X-MetaAgent-Signature` value; several secrets give several `v1=` entries."""
    macs = ",".join(f"{SCHEME}={_mac(s, body, timestamp)}" for s in _secrets(secret))
    return f"t={timestamp},{macs}"


def parse(header: str) -> tuple[int, list[str]]:
    """The timestamp and the v1 signatures of a header; `InvalidSignature` when malformed."""
    timestamp, macs = None, []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise InvalidSignature("malformed signature header")
        if key == "t":
            if not (value.isascii() and value.isdigit()) or timestamp is not None:
                raise InvalidSignature("malformed signature header")
            timestamp = int(value)
        elif key == SCHEME:
            macs.append(value)
        # other schemes are ignored, so a future v2 does not break today's receivers
    if timestamp is None or not macs:
        raise InvalidSignature("malformed signature header")
    return timestamp, macs


class SignatureVerifier:
    """Checks MAC, age and uniqueness of webhook requests; safe to share between threads.

    `secret` may be several secrets (old and new) while one is rotated. A delivery id is
    remembered for `tolerance_s`: a request older than that fails the age check anyway.
    """

    def __init__(
        self,
        secret: str | Sequence[str],
        *,
        tolerance_s: float = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = _secrets(secret)
        self._tolerance_s = tolerance_s
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, header: str, body: bytes, delivery_id: str) -> None:
        """Return when the request is authentic, fresh and new; raise `InvalidSignature` (or
        its subclass `ReplayedDelivery`) otherwise."""
        timestamp, macs = parse(header)
        now = self._clock()
        if abs(now - timestamp) > self._tolerance_s:
            raise InvalidSignature("timestamp outside the tolerance window")
        expected = [_mac(s, body, timestamp) for s in self._secrets]
        # every pair compared, in constant time each: no early exit to time
        matched = False
        for mac in macs:
            for want in expected:
                matched |= hmac.compare_digest(mac, want)
        if not matched:
            raise InvalidSignature("signature does not match")
        # the delivery header is not signed; the body's delivery_id is
        try:
            signed_id = json.loads(body).get("delivery_id")
        except (ValueError, AttributeError):
            signed_id = None
        if signed_id != delivery_id:
            raise InvalidSignature("delivery id does not match the signed body")
        with self._lock:
            # insertion order is arrival order: forget from the front until a fresh one
            while self._seen:
                oldest, seen_at = next(iter(self._seen.items()))
                if now - seen_at <= self._tolerance_s:
                    break
                del self._seen[oldest]
            if delivery_id in self._seen:
                raise ReplayedDelivery(f"delivery {delivery_id} already received")
            self._seen[delivery_id] = now
