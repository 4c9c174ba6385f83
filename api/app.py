"""The app factory: settings and server URLs in, a FastAPI app with every /v1 router out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from api.body_limit import BodySizeLimit
from api.errors import error_response, install_error_handlers
from api.events_hub import EventHub, HubLimits
from api.routers import (
    agent_health,
    agents,
    alert_routes,
    alert_settings,
    alert_silences,
    alerts,
    circuits,
    executions,
    health,
    ingest,
    keys,
    metrics,
    notification_channels,
    overview,
    prompts,
    sla,
    ws,
)
from api.schemas.common import ERROR_RESPONSES
from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.outbox import Links
from meta_agent.connections import ServerUrls
from meta_agent.db import Database
from meta_agent.redis_async import async_redis
from meta_agent.settings import Settings

DESCRIPTION = """
MetaAgent's API: the agent registry, prompt versions, execution history and the dashboard's
numbers. Authenticate with `Authorization: Bearer <API key>`; each key belongs to one tenant
and carries scopes (`ingest`, `read`, `write`, `admin`; `write` implies `read`, `admin` implies
all). Errors always have the shape `{"error": {"code", "message", "details"}}`.

## Realtime events: WebSocket `/v1/ws`

Health and circuit-breaker transitions of the key's tenant, as they happen (WebSocket routes
are not listed below). Authenticate with a `read` key: `Authorization: Bearer <key>` on the
handshake or, from a browser, a first message `{"type": "auth", "api_key": "<key>"}` within
5 s; never in the URL. The server answers `{"type": "ready", ...}` and then sends each event as
published: `{"type": "health" | "breaker", "agent_id", "from_state", "to_state", "version",
"at", "reason", "metrics", ...}`. Narrow it with `{"type": "subscribe", "agents": [ids] | null,
"types": ["health", "breaker"]}` (answered `{"type": "subscribed", ...}`); `{"type": "ping"}`
gets `{"type": "pong"}`; a malformed message gets `{"type": "error", "code":
"invalid_message", ...}` and the connection stays. If Redis is unavailable the client gets
`{"type": "error", "code": "events_unavailable"}` and later `{"type": "events_resumed"}`;
events in between are lost, so re-read `GET /v1/health` then and after each reconnect.
Close codes: 4401 bad, missing, revoked or late key; 4403 no `read` scope; 4408 too slow
(a client that falls a queue behind is dropped, never waited for); 1001 or 1012 the server
is stopping or restarting; 1013 the key could not be checked (retry).
"""


def build_v1_router() -> APIRouter:
    """All /v1 resources; each router attaches its own scope check through its session type."""
    v1 = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
    modules = (ingest, agents, agent_health, circuits, prompts, executions, overview, keys)
    alerting = (alerts, notification_channels, alert_routes, alert_silences, alert_settings)
    for module in (*modules, metrics, sla, *alerting, ws):
        v1.include_router(module.router)
    return v1


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    """Constraint failures are the client's: say which kind, never the SQL."""
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return error_response(409, "conflict", "a resource with these values already exists")
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):
        return error_response(
            422, "invalid_reference", "the request refers to something that does not exist"
        )
    if isinstance(exc, (psycopg.errors.CheckViolation, psycopg.errors.DataError)):
        return error_response(422, "invalid_request", "a value is out of range or malformed")
    if isinstance(exc, psycopg.OperationalError):
        return error_response(503, "unavailable", "the database is unavailable; retry shortly")
    raise exc


def create_app(settings: Settings, urls: ServerUrls) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            urls.app_database_url,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            timeout_s=settings.connect_timeout_s,
        )
        await db.open()
        app.state.db = db
        # acknowledging and resolving alerts queue their notifications as the worker does
        app.state.alert_engine = AlertEngine(db, links=Links.from_settings(settings))
        app.state.redis = async_redis(urls.redis_url, socket_timeout=settings.connect_timeout_s)
        # the WebSocket's one subscription for the process; it connects (and reconnects) in
        # the background, so the app serves HTTP whether Redis answers or not
        app.state.event_hub = EventHub(urls.redis_url, app.state.hub_limits)
        app.state.event_hub.start()
        try:
            yield
        finally:
            await app.state.event_hub.stop()
            await app.state.redis.aclose()
            await db.close()

    app = FastAPI(
        title="MetaAgent API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.hub_limits = HubLimits(connect_timeout_s=settings.connect_timeout_s)
    install_error_handlers(app)
    for error in (
        psycopg.errors.IntegrityError,
        psycopg.errors.DataError,
        psycopg.OperationalError,
    ):
        app.add_exception_handler(error, _database_error)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.include_router(health.router)
    app.include_router(build_v1_router())
    return app


def create_app_from_environment() -> FastAPI:
    """The app for a uvicorn worker process, whose parent exported the server URLs."""
    from meta_agent.connections import resolve_urls
    from meta_agent.settings import load_settings

    settings = load_settings()
    return create_app(settings, resolve_urls(settings, need_redis=True))
