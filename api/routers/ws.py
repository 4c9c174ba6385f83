"""`/v1/ws`: the tenant's realtime events (health and circuit-breaker transitions), live.

Protocol (JSON text frames both ways):

1. Authenticate with an API key holding `read`: `Authorization: Bearer <key>` on the
   handshake, or, for browsers (which cannot set headers), a first message
   `{"type": "auth", "api_key": "<key>"}` within 5 s. A key in the URL is refused (URLs land
   in access logs). The key is checked again every minute: a revoked or expired one ends it.
2. The server sends `{"type": "ready", "tenant_id", "events_available", "agents": null,
   "types": ["alert", "breaker", "health"]}`: from here every event of the tenant is sent.
3. The client may narrow what it gets, as often as it likes:
   `{"type": "subscribe", "agents": [<agent id>, ...] | null,
     "types": ["health"|"breaker"|"alert", ...]}`
   (null or left out: all); the server answers `{"type": "subscribed", "agents", "types"}`.
   `{"type": "ping"}` is answered `{"type": "pong"}` (after every event already queued).
4. Each event is the JSON object realtime published (`meta_agent.events`): `"type"` is
   `"health"` or `"breaker"`, with `agent_id`, `from_state`, `to_state`, `version`, `at` ...
   A client holding a higher `version` for an agent may drop a lower one.
5. A malformed client message gets `{"type": "error", "code": "invalid_message", "message"}`
   and the connection stays open.
6. Redis unavailable: `{"type": "error", "code": "events_unavailable", ...}`, the connection
   stays open, and `{"type": "events_resumed", ...}` follows once events flow again. Events in
   between are lost: re-read `GET /v1/health` then (and after every reconnect).

Close codes: 4401 missing, invalid, revoked or late key (or a key in the URL); 4403 the key
lacks `read`; 4408 too slow (the client's queue of unsent events filled up: reconnect and
re-read); 1001 or 1012 the server is stopping or restarting (reconnect); 1011 internal error;
1013 the database could not check the key (retry). The server's WebSocket pings keep idle
connections alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

import psycopg
from fastapi import APIRouter, WebSocket
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError
from starlette.websockets import WebSocketDisconnect

from api.deps import Principal
from api.events_hub import EVENT_TYPES, EventHub, HubLimits, Subscription
from meta_agent.db import Database
from meta_agent.tenants import hash_key

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
MAX_AGENTS = 1000
# parameters a client might put a key in; the connection is refused rather than the key used
_KEY_PARAMETERS = frozenset({"api_key", "apikey", "key", "token", "access_token", "authorization"})
_AUTH_HINT = 'send {"type": "auth", "api_key": "<key>"} or an Authorization header'


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthMessage(_Message):
    type: Literal["auth"]
    api_key: str = Field(min_length=1, max_length=200)


class SubscribeMessage(_Message):
    type: Literal["subscribe"]
    agents: list[uuid.UUID] | None = Field(default=None, max_length=MAX_AGENTS)
    types: list[Literal["health", "breaker", "alert"]] | None = Field(default=None, min_length=1)


class PingMessage(_Message):
    type: Literal["ping"]


_AnyMessage = Annotated[AuthMessage | SubscribeMessage | PingMessage, Field(discriminator="type")]


class ClientMessage(RootModel[_AnyMessage]):
    """Any message a client may send, told apart by its `type`."""


class Refused(Exception):
    """The connection must close with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _json(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


def _error(message: str) -> str:
    return _json("error", code="invalid_message", message=message)


def _parse(text: str) -> AuthMessage | SubscribeMessage | PingMessage:
    """A client message; ValueError with a message fit for the client otherwise."""
    try:
        return ClientMessage.model_validate_json(text).root
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg']}" if where else first["msg"]) from None


async def _principal(db: Database, key_hash: bytes) -> Principal | None:
    """The key's holder, or None when the key is unknown, revoked or expired."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "select api_key_id, tenant_id, scopes from app.authenticate_api_key(%s)", (key_hash,)
        )
        row = await cursor.fetchone()
    if row is None:
        return None
    return Principal(row["api_key_id"], row["tenant_id"], frozenset(row["scopes"]))


async def _key(websocket: WebSocket, limits: HubLimits) -> str | None:
    """The key the client offers (header, else the first message); None: it went away."""
    query = {name.lower() for name, _ in parse_qsl(websocket.url.query, keep_blank_values=True)}
    if query & _KEY_PARAMETERS:
        raise Refused(CLOSE_UNAUTHENTICATED, "never put the API key in the URL; " + _AUTH_HINT)
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Refused(CLOSE_UNAUTHENTICATED, "the Authorization header must be Bearer <key>")
        return key.strip()
    try:
        message = await asyncio.wait_for(websocket.receive(), limits.auth_timeout_s)
    except TimeoutError:
        raise Refused(
            CLOSE_UNAUTHENTICATED, f"no API key within {limits.auth_timeout_s:g} s; {_AUTH_HINT}"
        ) from None
    if message["type"] == "websocket.disconnect":
        return None
    try:
        parsed = _parse(message.get("text") or "")
    except ValueError:
        parsed = None
    if not isinstance(parsed, AuthMessage):
        raise Refused(CLOSE_UNAUTHENTICATED, "the first message must authenticate; " + _AUTH_HINT)
    return parsed.api_key


async def _authenticate(
    websocket: WebSocket, db: Database, limits: HubLimits
) -> tuple[Principal, bytes] | None:
    """The key's holder and the key's hash (kept to check it again, the key itself is not);
    None when the client left first."""
    key = await _key(websocket, limits)
    if key is None:
        return None
    if len(key) > 200 or not key.isascii():
        raise Refused(CLOSE_UNAUTHENTICATED, "the API key is not valid")
    key_hash = hash_key(key)
    try:
        principal = await _principal(db, key_hash)
    except (psycopg.OperationalError, PoolTimeout):
        raise Refused(CLOSE_TRY_AGAIN, "the database is unavailable; retry shortly") from None
    if principal is None:
        raise Refused(CLOSE_UNAUTHENTICATED, "the API key is not valid")
    if not principal.allows("read"):
        raise Refused(CLOSE_FORBIDDEN, "this API key lacks the 'read' scope")
    return principal, key_hash


def _filter(subscription: Subscription) -> dict[str, Any]:
    agents = subscription.agents
    return {
        "agents": None if agents is None else sorted(agents),
        "types": sorted(subscription.types or EVENT_TYPES),
    }


def _handle(text: str | None, subscription: Subscription) -> str:
    """The reply to one client message (after authentication)."""
    if text is None:
        return _error("send JSON text frames")
    try:
        message = _parse(text)
    except ValueError as exc:
        return _error(str(exc))
    if isinstance(message, PingMessage):
        return _json("pong")
    if isinstance(message, AuthMessage):
        return _error("already authenticated")
    subscription.agents = (
        None if message.agents is None else frozenset(str(a) for a in message.agents)
    )
    subscription.types = None if message.types is None else frozenset(message.types)
    return _json("subscribed", **_filter(subscription))


async def _read(websocket: WebSocket, subscription: Subscription, limits: HubLimits) -> None:
    """Answer the client's messages until it goes away. Replies queue behind events."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and len(text) > limits.max_client_message_chars:
            reply = _error(f"messages are limited to {limits.max_client_message_chars} characters")
        else:
            reply = _handle(text, subscription)
        subscription.offer(reply)


async def _send(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        await websocket.send_text(await subscription.queue.get())


async def _recheck_key(
    db: Database, key_hash: bytes, subscription: Subscription, interval_s: float
) -> None:
    """End the connection when its key is revoked or expires; a database outage does not."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            principal = await _principal(db, key_hash)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("could not re-check a WebSocket client's key: %s", exc)
            continue
        if principal is None:
            subscription.close(CLOSE_UNAUTHENTICATED, "the API key was revoked or has expired")
            return


async def _close(websocket: WebSocket, code: int, reason: str, timeout_s: float) -> None:
    """Send a close frame; a client that reads nothing may never take it, so not forever."""
    with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
        await asyncio.wait_for(websocket.close(code, reason), timeout_s)


async def _serve(
    websocket: WebSocket, subscription: Subscription, key_hash: bytes, hub: EventHub, db: Database
) -> None:
    limits = hub.limits
    tasks = [
        asyncio.create_task(_send(websocket, subscription)),
        asyncio.create_task(_read(websocket, subscription, limits)),
        asyncio.create_task(_recheck_key(db, key_hash, subscription, limits.reauth_interval_s)),
        asyncio.create_task(subscription.closed.wait()),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, (WebSocketDisconnect, RuntimeError)):
            log.error("WebSocket connection failed", exc_info=error)
            subscription.close(CLOSE_INTERNAL, "internal error")
    if subscription.closed.is_set():
        await _close(websocket, subscription.close_code, subscription.close_reason,
                     limits.close_timeout_s)  # fmt: skip


@router.websocket("/ws")
async def events(websocket: WebSocket) -> None:
    """The tenant's realtime events; see the module docstring for the protocol."""
    await websocket.accept()
    hub: EventHub = websocket.app.state.event_hub
    db: Database = websocket.app.state.db
    try:
        authenticated = await _authenticate(websocket, db, hub.limits)
    except Refused as refused:
        await _close(websocket, refused.code, refused.reason, hub.limits.close_timeout_s)
        return
    if authenticated is None:
        return
    principal, key_hash = authenticated
    subscription = hub.subscribe(str(principal.tenant_id))
    try:
        subscription.offer(
            _json(
                "ready",
                tenant_id=str(principal.tenant_id),
                events_available=hub.available,
                **_filter(subscription),
            )
        )
        await _serve(websocket, subscription, key_hash, hub, db)
    finally:
        hub.unsubscribe(subscription)
