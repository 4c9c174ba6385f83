"""The realtime WebSocket `/v1/ws`, through a real uvicorn server on a real socket, with events
published through the real Redis by the publishers realtime uses (`Recorded` + `publish` for
health, `meta_agent.events.publish_breaker` for breakers).

No test sleeps for a fixed time: each waits for what it expects under a deadline, and "nothing
else arrived" is proven with a ping, whose pong is queued behind every event sent before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.app import create_app
from meta_agent.breaker.state import Cause, State, Transition
from meta_agent.breaker.store import BreakerKey
from meta_agent.connections import ServerUrls
from meta_agent.embedded import EmbeddedRedis
from meta_agent.events import breaker_event, channel, publish_breaker
from meta_agent.settings import Settings
from realtime.health import record
from realtime.health.evaluate import Evaluation, Health
from realtime.windows import AgentKey
from tests.api.support import Tenant, create_agent

pytestmark = pytest.mark.integration

DEADLINE_S = 5.0
NOW_MS = 1_800_000_000_000


# ---------------------------------------------------------------- a server and its clients


@contextlib.asynccontextmanager
async def serving(app: FastAPI, *, send_buffer: int | None = None) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free port, in a thread of its own (as a server process
    would be, apart from its clients), until the block ends. Yields its address once the app
    has started and its event hub holds its subscription."""
    listener = socket.socket()
    if send_buffer is not None:  # accepted connections inherit it
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True
    )
    thread.start()
    try:
        await until(lambda: server.started and app.state.event_hub.available)
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 15)
        assert not thread.is_alive(), "the server did not stop"
        listener.close()


async def until(condition: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    async with asyncio.timeout(deadline_s):
        while not condition():  # noqa: ASYNC110 (state of other objects, polled)
            await asyncio.sleep(0.01)


def open_ws(
    address: str, headers: dict[str, str] | None = None, *, path: str = "/v1/ws", **options: Any
) -> connect:
    return connect(
        f"ws://{address}{path}", additional_headers=headers, proxy=None, open_timeout=DEADLINE_S,
        **options,
    )  # fmt: skip


async def receive(ws: ClientConnection, deadline_s: float = DEADLINE_S) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), deadline_s)
    parsed: dict[str, Any] = json.loads(message)
    return parsed


async def send(ws: ClientConnection, message: Any) -> None:
    await ws.send(message if isinstance(message, str) else json.dumps(message))


async def until_pong(ws: ClientConnection) -> list[dict[str, Any]]:
    """Everything the server sent before its answer to a ping sent now."""
    await send(ws, {"type": "ping"})
    seen = []
    while (message := await receive(ws))["type"] != "pong":
        seen.append(message)
    return seen


async def closed_with(ws: ClientConnection, deadline_s: float = DEADLINE_S) -> tuple[int, str]:
    """Read until the server closes; the close code and reason it sent."""
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(deadline_s):
            while True:
                await ws.recv()
    assert ws.close_code is not None, "the server did not close the connection"
    return ws.close_code, ws.close_reason or ""


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


# ---------------------------------------------------------------- events, published for real


def health_transition(tenant: Tenant, agent_id: uuid.UUID, version: int) -> record.Recorded:
    return record.Recorded(
        agent=AgentKey(tenant.tenant_id, agent_id),
        from_state=Health.HEALTHY,
        evaluation=Evaluation(Health.DEGRADED, True, "3 consecutive failures", {"v": version}),
        windows=None,
        version=version,
        since_ms=NOW_MS,
        at_ms=NOW_MS + version,
    )


async def publish_health(
    redis_client: aioredis.Redis, tenant: Tenant, agent_id: uuid.UUID, version: int = 1
) -> dict[str, Any]:
    """A health transition, published by realtime's own code; returns the event as sent."""
    recorded = health_transition(tenant, agent_id, version)
    await record.publish(redis_client, recorded)
    return recorded.event()


def health_message(tenant: Tenant, agent_id: uuid.UUID, version: int) -> str:
    """The message `record.publish` sends, for publishing many in one pipeline."""
    return json.dumps(health_transition(tenant, agent_id, version).event(), separators=(",", ":"))


async def publish_breaker_opened(
    redis_client: aioredis.Redis, tenant: Tenant, agent_id: uuid.UUID
) -> dict[str, Any]:
    """A breaker opening, published by the breaker's own publisher; returns the event."""
    transition = Transition(
        from_state=State.CLOSED, to_state=State.OPEN, cause=Cause.FAILURE_RATE, version=1,
        at_ms=NOW_MS, actor="realtime", reason="failure rate 0.6 ≥ 0.5", calls=20, failures=12,
        slow_calls=0, consecutive_failures=4, probes_succeeded=0, consecutive_opens=1,
        opened_ms=NOW_MS, open_until_ms=NOW_MS + 30_000, probe_limit=3, probes_issued=0,
        probes_out=(), forced_by=None, forced_reason=None,
    )  # fmt: skip
    key = BreakerKey(tenant.tenant_id, agent_id)
    await publish_breaker(redis_client, key, (transition,))
    return breaker_event(key, transition)


@pytest.fixture
def redis_client(urls: ServerUrls) -> Callable[[], aioredis.Redis]:
    """A Redis client for the test's own event loop."""
    return lambda: aioredis.Redis.from_url(urls.redis_url)


@pytest.fixture
def make_app(build_app: Callable[[Settings], FastAPI], api_settings: Settings):
    def make(**limits: Any) -> FastAPI:
        app = build_app(api_settings)
        app.state.hub_limits = replace(app.state.hub_limits, **limits)
        return app

    return make


def bearer(tenant: Tenant, scope: str = "read") -> dict[str, str]:
    return tenant.auth(scope)


# ---------------------------------------------------------------- authentication


def test_a_key_in_the_header_gets_ready_and_then_the_tenants_events(
    make_app, redis_client, tenant: Tenant
):
    agent_id = uuid.uuid4()

    async def scenario() -> None:
        async with serving(make_app()) as address, open_ws(address, bearer(tenant)) as ws:
            ready = await receive(ws)
            assert ready == {
                "type": "ready", "tenant_id": str(tenant.tenant_id), "events_available": True,
                "agents": None, "types": ["alert", "breaker", "health"],
            }  # fmt: skip
            async with redis_client() as r:
                health = await publish_health(r, tenant, agent_id)
                breaker = await publish_breaker_opened(r, tenant, agent_id)
            assert await receive(ws) == health
            assert await receive(ws) == breaker
            assert (breaker["type"], breaker["to_state"]) == ("breaker", "open")

    run(scenario())


def test_a_browser_authenticates_with_its_first_message(make_app, redis_client, tenant: Tenant):
    async def scenario() -> None:
        async with serving(make_app()) as address, open_ws(address) as ws:
            await send(ws, {"type": "auth", "api_key": tenant.keys["read"].key})
            assert (await receive(ws))["type"] == "ready"
            async with redis_client() as r:
                sent = await publish_health(r, tenant, uuid.uuid4())
            assert await receive(ws) == sent

    run(scenario())


def test_a_write_or_admin_key_may_listen_too(make_app, tenant: Tenant):
    async def scenario() -> None:
        async with serving(make_app()) as address:
            for scope in ("write", "admin"):
                async with open_ws(address, bearer(tenant, scope)) as ws:
                    assert (await receive(ws))["type"] == "ready"

    run(scenario())


def test_missing_bad_and_misplaced_keys_are_closed_with_a_clear_code(
    make_app, tenant: Tenant, other_tenant: Tenant
):
    read_key = tenant.keys["read"].key
    cases: list[tuple[str, dict[str, str] | None, str, Any, int, str]] = [
        # (case, headers, path, first message, code, words the reason must hold)
        ("unknown key", {"Authorization": "Bearer ma_00000000_nope"}, "/v1/ws", None, 4401,
         "not valid"),
        ("another scheme", {"Authorization": f"Basic {read_key}"}, "/v1/ws", None, 4401,
         "Bearer"),
        ("blank bearer", {"Authorization": "Bearer "}, "/v1/ws", None, 4401, "Bearer"),
        ("overlong key", {"Authorization": "Bearer " + "x" * 201}, "/v1/ws", None, 4401,
         "not valid"),
        ("ingest-only key", bearer(tenant, "ingest"), "/v1/ws", None, 4403, "'read' scope"),
        ("unknown key in message", None, "/v1/ws",
         {"type": "auth", "api_key": "ma_00000000_nope"}, 4401, "not valid"),
        ("no auth first", None, "/v1/ws", {"type": "ping"}, 4401, "auth"),
        ("not json first", None, "/v1/ws", "hello", 4401, "auth"),
        ("silence", None, "/v1/ws", None, 4401, "within"),
        # a key in the URL is refused even when it is valid: URLs land in access logs
        ("key in the URL", None, f"/v1/ws?api_key={read_key}", None, 4401, "URL"),
        ("token in the URL", bearer(other_tenant), f"/v1/ws?token={read_key}", None, 4401,
         "URL"),
    ]  # fmt: skip

    async def scenario() -> None:
        async with serving(make_app(auth_timeout_s=0.3)) as address:
            for case, headers, path, first, code, words in cases:
                async with open_ws(address, headers, path=path) as ws:
                    if first is not None:
                        await send(ws, first)
                    got_code, reason = await closed_with(ws)
                    assert got_code == code, (case, got_code, reason)
                    assert words in reason, (case, reason)

    run(scenario())


def test_a_revoked_key_is_closed(make_app, new_tenant, client):
    tenant = new_tenant("revoked")
    key = tenant.keys["read"]

    async def scenario() -> None:
        async with (
            serving(make_app(reauth_interval_s=0.1)) as address,
            open_ws(address, bearer(tenant)) as ws,
            httpx.AsyncClient(base_url=f"http://{address}", trust_env=False) as http,
        ):
            assert (await receive(ws))["type"] == "ready"
            revoked = await http.post(
                f"/v1/keys/{key.api_key_id}/revoke", headers=tenant.auth("admin")
            )
            assert revoked.status_code == 200, revoked.text
            code, reason = await closed_with(ws)
            assert (code, reason) == (4401, "the API key was revoked or has expired")

    run(scenario())


# ---------------------------------------------------------------- what reaches whom


def test_another_tenants_client_receives_none_of_the_events(
    make_app, redis_client, tenant: Tenant, other_tenant: Tenant
):
    async def scenario() -> None:
        async with (
            serving(make_app()) as address,
            open_ws(address, bearer(tenant)) as mine,
            open_ws(address, bearer(other_tenant)) as theirs,
        ):
            assert (await receive(mine))["type"] == "ready"
            assert (await receive(theirs))["type"] == "ready"
            async with redis_client() as r:
                sent = [await publish_health(r, tenant, uuid.uuid4(), v) for v in range(1, 21)]
                await publish_breaker_opened(r, tenant, uuid.uuid4())
            got = [await receive(mine) for _ in range(21)]
            assert got[:20] == sent
            # the hub handed each event to every subscriber of the tenant before the next;
            # `mine` has them all, so any leak would already sit ahead of this pong
            assert await until_pong(theirs) == []

    run(scenario())


def test_a_subscription_narrows_the_events_by_agent_and_type(
    make_app, redis_client, tenant: Tenant
):
    watched, other = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> None:
        async with serving(make_app()) as address, open_ws(address, bearer(tenant)) as ws:
            await receive(ws)
            await send(ws, {"type": "subscribe", "agents": [str(watched)], "types": ["health"]})
            assert await receive(ws) == {
                "type": "subscribed", "agents": [str(watched)], "types": ["health"]
            }  # fmt: skip
            async with redis_client() as r:
                first = await publish_health(r, tenant, watched, 1)
                await publish_health(r, tenant, other, 1)
                await publish_breaker_opened(r, tenant, watched)
                second = await publish_health(r, tenant, watched, 2)
                assert await receive(ws) == first
                assert await receive(ws) == second
                assert await until_pong(ws) == []

                # null widens it again
                await send(ws, {"type": "subscribe", "agents": None})
                assert (await receive(ws))["types"] == ["alert", "breaker", "health"]
                await publish_breaker_opened(r, tenant, other)
                assert (await receive(ws))["agent_id"] == str(other)

    run(scenario())


def test_a_malformed_message_gets_an_error_and_the_connection_stays(
    make_app, redis_client, tenant: Tenant
):
    bad: list[tuple[Any, str]] = [
        ("not json", "JSON"),
        ({"type": "dance"}, "type"),
        ({"no": "type"}, "type"),
        ({"type": "subscribe", "agents": ["not-an-id"]}, "agents.0"),
        ({"type": "subscribe", "types": ["weather"]}, "types.0"),
        ({"type": "subscribe", "types": []}, "types"),
        ({"type": "subscribe", "agent": []}, "agent"),
        ({"type": "subscribe", "agents": [str(uuid.uuid4())] * 1001}, "agents"),
        ({"type": "auth", "api_key": "again"}, "already authenticated"),
        (b"\x00binary", "text"),
        ("x" * 70_000, "limited"),
    ]

    async def scenario() -> None:
        async with serving(make_app()) as address, open_ws(address, bearer(tenant)) as ws:
            await receive(ws)
            for message, words in bad:
                await (ws.send(message) if isinstance(message, bytes) else send(ws, message))
                error = await receive(ws)
                assert (error["type"], error["code"]) == ("error", "invalid_message"), message
                assert words in error["message"], (message, error)
            async with redis_client() as r:
                sent = await publish_health(r, tenant, uuid.uuid4())
            assert await receive(ws) == sent, "still subscribed to everything"

    run(scenario())


# ---------------------------------------------------------------- many clients, slow clients


def test_one_pattern_subscription_serves_every_client(
    make_app, redis_client, tenant: Tenant, other_tenant: Tenant
):
    async def subscribers(r: aioredis.Redis) -> int:
        """How many subscriptions a tenant channel's message reaches (other apps' included)."""
        return int(await r.publish(f"metaagent:events:{uuid.uuid4()}", "{}"))

    async def scenario() -> None:
        app = make_app()
        async with (
            serving(app) as address,
            redis_client() as r,
            contextlib.AsyncExitStack() as stack,
        ):
            before = await subscribers(r)
            clients = [
                await stack.enter_async_context(open_ws(address, bearer(t)))
                for t in (tenant, tenant, tenant, other_tenant, other_tenant)
            ]
            for ws in clients:
                await receive(ws)
            assert await subscribers(r) == before, "clients add no subscription of their own"
            hub = [c for c in await r.client_list() if c["name"] == app.state.event_hub.client_name]
            assert len(hub) == 1, hub
            assert (hub[0]["psub"], hub[0]["sub"]) == ("1", "0")
            sent = await publish_health(r, tenant, uuid.uuid4())
            for ws in clients[:3]:
                assert await receive(ws) == sent
            for ws in clients[3:]:
                assert await until_pong(ws) == []

    run(scenario())


def test_a_slow_client_is_dropped_while_a_fast_one_keeps_receiving(
    make_app, redis_client, tenant: Tenant
):
    events = 1500

    async def scenario() -> None:
        app = make_app(queue_size=128)
        # small socket buffers, so a client that stops reading fills them within a few
        # hundred events rather than megabytes
        async with serving(app, send_buffer=4096) as address:
            slow_socket = socket.socket()
            slow_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow_socket.connect(("127.0.0.1", int(address.rpartition(":")[2])))
            async with (
                open_ws(address, bearer(tenant), sock=slow_socket, max_queue=1,
                        compression=None) as slow,
                open_ws(address, bearer(tenant), compression=None) as fast,
            ):  # fmt: skip
                assert (await receive(slow))["type"] == "ready"
                assert (await receive(fast))["type"] == "ready"
                agent_id = uuid.uuid4()

                async def read_fast() -> list[int]:
                    return [(await receive(fast))["version"] for _ in range(events)]

                reader = asyncio.create_task(read_fast())
                async with redis_client() as r:
                    # bursts, as when many agents change at once: pipelines of 50 publishes,
                    # each smaller than a client's queue, so a client that reads keeps up
                    for start in range(1, events + 1, 50):
                        async with r.pipeline(transaction=False) as pipe:
                            for version in range(start, min(start + 50, events + 1)):
                                message = health_message(tenant, agent_id, version)
                                pipe.publish(channel(tenant.tenant_id), message)
                            await pipe.execute()
                        await asyncio.sleep(0.02)
                    # the fast client reads every event, in order, while the slow one reads none
                    assert await reader == list(range(1, events + 1))
                    assert app.state.event_hub.dropped_clients == 1
                    after = await publish_health(r, tenant, agent_id, events + 1)
                    assert await receive(fast) == after
                # the slow client, reading at last, gets what was in flight and then the close
                code, reason = await closed_with(slow)
                assert (code, reason) == (
                    4408,
                    "too slow: events arrived faster than they were read",
                )

    run(scenario())


# ---------------------------------------------------------------- Redis going away


def crash(server: EmbeddedRedis) -> None:
    """Kill the server as a crash would (and without the second or two of a clean stop)."""
    pid = server.pid()
    if pid is None:
        return
    process = psutil.Process(pid)
    process.kill()
    # psutil's wait() polls a process that is not our child for a second or two
    deadline = time.monotonic() + DEADLINE_S
    with contextlib.suppress(psutil.NoSuchProcess):
        while process.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)


def test_clients_are_told_when_redis_goes_away_and_comes_back_and_http_keeps_serving(
    api_settings: Settings, urls: ServerUrls, client, tenant: Tenant
):
    agent = create_agent(client, tenant)
    home = Path(tempfile.mkdtemp(prefix="ws redis "))
    private = EmbeddedRedis(home)
    private.start()

    async def scenario() -> None:
        app = create_app(api_settings, replace(urls, redis_url=private.url()))
        app.state.hub_limits = replace(app.state.hub_limits, retry_max_s=0.2)
        async with serving(app) as address, open_ws(address, bearer(tenant)) as ws:
            assert (await receive(ws))["events_available"] is True
            crash(private)
            told = await receive(ws)
            assert (told["type"], told["code"]) == ("error", "events_unavailable")
            assert "lost" in told["message"]
            async with httpx.AsyncClient(base_url=f"http://{address}", trust_env=False) as http:
                health = await http.get(
                    f"/v1/agents/{agent['agent_id']}/health", headers=tenant.auth("read")
                )
                assert health.status_code == 200, health.text
            assert await until_pong(ws) == [], "the client stays connected meanwhile"
            private.start()
            assert (await receive(ws))["type"] == "events_resumed"
            async with aioredis.Redis.from_url(private.url()) as r:
                sent = await publish_health(r, tenant, uuid.uuid4())
            assert await receive(ws) == sent

    try:
        run(scenario())
    finally:
        crash(private)
        shutil.rmtree(home, ignore_errors=True)
