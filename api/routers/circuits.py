"""Circuit breakers: state, manual overrides, configuration and history for people
(`/v1/agents/{id}/circuit…`), and the two calls the SDK makes (`/v1/circuits…`, scope ingest).

Redis decides (one atomic script per operation, shared with the realtime worker); each
transition is then written to Postgres, the record, and published on the tenant's channel.
Reading falls back to the Postgres row when Redis is away; changing a breaker needs Redis.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from redis.exceptions import RedisError

from api.deps import IngestSession, ReadSession, Session, WriteSession
from api.errors import ApiError
from api.queries import circuits as queries
from api.schemas.circuits import (
    BreakerConfigBody,
    BreakerConfigOut,
    Circuit,
    CircuitAction,
    CircuitEvent,
    CircuitState,
    CircuitStates,
    PermitResult,
)
from api.schemas.common import Name, Page, PageLimit, Text
from meta_agent.breaker import (
    BreakerConfig,
    BreakerConfigError,
    BreakerKey,
    BreakerState,
    Permit,
    PermitKind,
    RedisBreakerStore,
    State,
    Transition,
    permit_token,
    persist_transitions,
)
from meta_agent.breaker.persistence import state_from_row
from meta_agent.breaker.state import to_datetime
from meta_agent.db import Database
from meta_agent.events import publish_breaker

router = APIRouter(tags=["circuit breakers"])
MAX_AGENTS_PER_LOOKUP = 100
# the state a breaker is in when it hands out a permit of each kind
_ADMITTING = {
    PermitKind.CALL: State.CLOSED,
    PermitKind.PROBE: State.HALF_OPEN,
    PermitKind.FORCED: State.FORCED_CLOSED,
    PermitKind.UNGUARDED: State.CLOSED,
}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _store(request: Request) -> RedisBreakerStore:
    store: RedisBreakerStore | None = getattr(request.app.state, "breakers", None)
    if store is None:
        store = request.app.state.breakers = RedisBreakerStore(request.app.state.redis)
    return store


def _redis_down() -> ApiError:
    return ApiError(503, "Redis is unavailable, so breakers cannot change now; retry shortly")


async def _config(session: Session, agent_id: uuid.UUID) -> tuple[BreakerConfig, Any]:
    row = await queries.config_row(session.conn, agent_id)
    try:
        return BreakerConfig.from_row(row), row
    except BreakerConfigError:  # a row written around the API: the breaker runs on defaults
        return BreakerConfig(), row


async def _actor(session: Session) -> str:
    cursor = await session.conn.execute(
        "select name from api_keys where api_key_id = %s", (session.principal.api_key_id,)
    )
    row = await cursor.fetchone()
    name = row["name"] if row else "?"
    return f"{name} [key {session.principal.api_key_id}]"[:200]


async def _record(request: Request, key: BreakerKey, transitions: tuple[Transition, ...]) -> None:
    db: Database = request.app.state.db
    await persist_transitions(db, key, transitions)
    with contextlib.suppress(RedisError, OSError):  # recorded; live subscribers miss this one
        await publish_breaker(request.app.state.redis, key, transitions)


def _summary(state: BreakerState, now_ms: int) -> CircuitState:
    retry = None
    if state.state is State.OPEN and state.open_until_ms is not None:
        retry = max(0, state.open_until_ms - now_ms) / 1000
    return CircuitState(state=state.state.value, retry_after_s=retry)


# -- for the SDK -------------------------------------------------------------------------


@router.get(
    "/circuits",
    response_model=CircuitStates,
    summary="Breaker states of agents, by name (what the SDK caches)",
)
async def circuit_states(
    request: Request,
    session: IngestSession,
    agent: Annotated[list[Name], Query(description="Agent names (repeat the parameter).")],
) -> CircuitStates:
    if len(agent) > MAX_AGENTS_PER_LOOKUP:
        raise ApiError(422, f"at most {MAX_AGENTS_PER_LOOKUP} agents per request")
    ids = await queries.agent_ids_by_name(session.conn, sorted(set(agent)))
    now = _now_ms()
    circuits: dict[str, CircuitState] = {}
    try:
        store = _store(request)
        for name, agent_id in ids.items():
            state = await store.load(BreakerKey(session.tenant_id, agent_id))
            circuits[name] = _summary(state, now)
    except (RedisError, OSError):  # the record in Postgres: the state of the last transition
        for name, agent_id in ids.items():
            row = await queries.state_row(session.conn, agent_id)
            state = state_from_row(row, 1) if row else BreakerState()
            circuits[name] = _summary(state, now)
    return CircuitStates(circuits=circuits, routing_version=0)


@router.post(
    "/circuits/{agent_name}/permits",
    response_model=PermitResult,
    summary="Ask to run one call now (a half-open breaker admits a fixed number of probes)",
)
async def acquire_permit(
    request: Request, agent_name: Name, session: IngestSession
) -> PermitResult:
    ids = await queries.agent_ids_by_name(session.conn, [agent_name])
    if agent_name not in ids:
        raise ApiError(404, "agent not found")
    key = BreakerKey(session.tenant_id, ids[agent_name])
    config, _ = await _config(session, key.agent_id)
    now = _now_ms()
    try:
        acquisition = await _store(request).try_acquire(key, config, now)
    except (RedisError, OSError):
        raise _redis_down() from None
    await _record(request, key, acquisition.transitions)
    decision = acquisition.decision
    if isinstance(decision, Permit):
        circuit = CircuitState(state=_ADMITTING[decision.kind].value, retry_after_s=None)
        permit = {
            "token": permit_token.encode(decision),
            "kind": decision.kind.value,
            "deadline_ms": decision.deadline_ms,
        }
        return PermitResult.model_validate({"admitted": True, "permit": permit, "circuit": circuit})
    retry = None if decision.retry_after_ms is None else decision.retry_after_ms / 1000
    circuit = CircuitState(state=decision.state.value, retry_after_s=retry)
    return PermitResult(admitted=False, permit=None, circuit=circuit)


# -- for people --------------------------------------------------------------------------


async def _circuit(request: Request, session: Session, agent_id: uuid.UUID) -> Circuit:
    config, config_row = await _config(session, agent_id)
    key = BreakerKey(session.tenant_id, agent_id)
    now = _now_ms()
    source = "redis"
    try:
        state = await _store(request).load(key)
        if state.version == 0:  # Redis lost it (not yet restored) or it never acted
            row = await queries.state_row(session.conn, agent_id)
            if row is not None:
                state, source = state_from_row(row, config.half_open_permitted_probes), "postgres"
    except (RedisError, OSError):
        row = await queries.state_row(session.conn, agent_id)
        state = state_from_row(row, config.half_open_permitted_probes) if row else BreakerState()
        source = "postgres"
    live = source == "redis"
    window = state.window
    body = {
        "agent_id": agent_id,
        "state": state.state.value,
        "version": state.version,
        "state_changed_at": to_datetime(state.changed_ms) if state.version else None,
        "opened_at": None if state.opened_ms is None else to_datetime(state.opened_ms),
        "open_until": None if state.open_until_ms is None else to_datetime(state.open_until_ms),
        "retry_after_s": _summary(state, now).retry_after_s,
        "consecutive_opens": state.consecutive_opens,
        "consecutive_failures": state.consecutive_failures if live else None,
        "window": {
            "calls": window.calls,
            "failures": window.failures,
            "slow_calls": window.slow_calls,
            "failure_rate": window.failures / window.calls if window.calls else None,
            "slow_call_rate": window.slow_calls / window.calls if window.calls else None,
        }
        if live
        else None,
        "probes": {
            "limit": state.probe_limit,
            "issued": state.probes_issued,
            "succeeded": state.probes_succeeded,
            "deadlines": [to_datetime(d) for _, d in state.probe_deadlines],
        }
        if state.state is State.HALF_OPEN
        else None,
        "forced_by": state.forced_by,
        "forced_reason": state.forced_reason,
        "source": source,
        "config": queries.config_out(config, config_row),
    }
    return Circuit.model_validate(body)


@router.get(
    "/agents/{agent_id:uuid}/circuit",
    response_model=Circuit,
    summary="An agent's circuit breaker: state, window, probes, configuration",
)
async def get_circuit(request: Request, agent_id: uuid.UUID, session: ReadSession) -> Circuit:
    await queries.require_agent(session.conn, agent_id)
    return await _circuit(request, session, agent_id)


@router.post(
    "/agents/{agent_id:uuid}/circuit",
    response_model=Circuit,
    summary="Force the breaker open or closed, or reset it (recorded with who and why)",
)
async def change_circuit(
    request: Request, agent_id: uuid.UUID, body: CircuitAction, session: WriteSession
) -> Circuit:
    await queries.require_agent(session.conn, agent_id)
    if not body.reason.strip():
        raise ApiError(422, "a reason is required")
    config, _ = await _config(session, agent_id)
    key = BreakerKey(session.tenant_id, agent_id)
    actor = await _actor(session)
    store = _store(request)
    now = _now_ms()
    try:
        if body.action == "reset":
            transitions = await store.reset(key, config, actor, body.reason, now)
        else:
            target = State.FORCED_OPEN if body.action == "force_open" else State.FORCED_CLOSED
            transitions = await store.force(key, config, target, actor, body.reason, now)
    except (RedisError, OSError):
        raise _redis_down() from None
    await _record(request, key, transitions)
    return await _circuit(request, session, agent_id)


@router.get(
    "/agents/{agent_id:uuid}/circuit/config",
    response_model=BreakerConfigOut,
    summary="An agent's breaker configuration (the defaults when it has none of its own)",
)
async def get_circuit_config(agent_id: uuid.UUID, session: ReadSession) -> BreakerConfigOut:
    await queries.require_agent(session.conn, agent_id)
    config, row = await _config(session, agent_id)
    return BreakerConfigOut.model_validate(queries.config_out(config, row))


@router.put(
    "/agents/{agent_id:uuid}/circuit/config",
    response_model=BreakerConfigOut,
    summary="Replace an agent's breaker configuration (the window starts afresh)",
)
async def put_circuit_config(
    request: Request, agent_id: uuid.UUID, body: BreakerConfigBody, session: WriteSession
) -> BreakerConfigOut:
    await queries.require_agent(session.conn, agent_id)
    values = body.model_dump(exclude={"reason"})
    try:
        config = BreakerConfig(**values)
    except BreakerConfigError as exc:
        details = [
            {"location": ["body"], "message": m, "type": "value_error"} for m in exc.problems
        ]
        raise ApiError(422, str(exc), code="invalid_request", details=details) from None
    actor = await _actor(session)
    row = await queries.save_config(session.conn, session.tenant_id, agent_id, config, actor)
    key = BreakerKey(session.tenant_id, agent_id)
    try:
        transitions = await _store(request).reconfigure(key, config, actor, body.reason, _now_ms())
    except (RedisError, OSError):
        transitions = ()  # the worker picks the new row up within its cache time
    await _record(request, key, transitions)
    return BreakerConfigOut.model_validate(queries.config_out(config, row))


@router.get(
    "/agents/{agent_id:uuid}/circuit/events",
    response_model=Page[CircuitEvent],
    summary="An agent's breaker transitions and overrides, newest first",
)
async def list_circuit_events(
    agent_id: uuid.UUID,
    session: ReadSession,
    limit: PageLimit = 50,
    cursor: Annotated[Text | None, Query(max_length=1000)] = None,
) -> Page[CircuitEvent]:
    await queries.require_agent(session.conn, agent_id)
    rows, next_cursor = await queries.list_events(
        session.conn, agent_id, limit=limit, cursor=cursor
    )
    return Page(items=[CircuitEvent.model_validate(r) for r in rows], next_cursor=next_cursor)
