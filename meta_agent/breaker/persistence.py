"""Postgres is the breakers' record: every transition becomes a `circuit_breaker_events` row and
the new `circuit_breaker_states` row, in one transaction; after a Redis loss the states are
put back into the store from those rows.

Writes are idempotent and order-tolerant: an event is keyed by (tenant, agent, version), and
the state row is only ever replaced by a higher version, so a retried or late write (a second
worker, a crash between Redis and Postgres) changes nothing.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from meta_agent.breaker.config import BreakerConfig, BreakerConfigError
from meta_agent.breaker.state import BreakerState, State, Transition, to_datetime, to_ms
from meta_agent.breaker.store import BreakerKey, BreakerStore
from meta_agent.db import Database, with_retry

log = logging.getLogger(__name__)

_INSERT_EVENT = """
insert into circuit_breaker_events (
    tenant_id, agent_id, from_state, to_state, occurred_at, cause, actor, reason, metrics, version
) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
on conflict (tenant_id, agent_id, version) do nothing
"""

_UPSERT_STATE = """
insert into circuit_breaker_states as s (
    tenant_id, agent_id, state, state_changed_at, opened_at, open_until, consecutive_opens,
    half_open_permits_remaining, half_open_deadline_at, forced_by, forced_reason, version
) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
on conflict (tenant_id, agent_id) do update set
    state = excluded.state,
    state_changed_at = excluded.state_changed_at,
    opened_at = excluded.opened_at,
    open_until = excluded.open_until,
    consecutive_opens = excluded.consecutive_opens,
    half_open_permits_remaining = excluded.half_open_permits_remaining,
    half_open_deadline_at = excluded.half_open_deadline_at,
    forced_by = excluded.forced_by,
    forced_reason = excluded.forced_reason,
    version = excluded.version
where s.version < excluded.version
"""

# the event of the row's version carries the half-open round the row has no columns for
_STATES = """
select s.*, to_jsonb(c) as config, e.metrics -> 'half_open' as half_open
from circuit_breaker_states as s
left join circuit_breaker_configs as c using (tenant_id, agent_id)
left join circuit_breaker_events as e
    on e.tenant_id = s.tenant_id and e.agent_id = s.agent_id and e.version = s.version
"""


def _at(ms: int | None) -> Any:
    return None if ms is None else to_datetime(ms)


def _event_row(key: BreakerKey, t: Transition) -> tuple[Any, ...]:
    return (
        key.tenant_id,
        key.agent_id,
        t.from_state.value,
        t.to_state.value,
        to_datetime(t.at_ms),
        t.cause.value,
        t.actor,
        t.reason,
        Jsonb(t.metrics()),
        t.version,
    )


def _state_row(key: BreakerKey, t: Transition) -> tuple[Any, ...]:
    return (
        key.tenant_id,
        key.agent_id,
        t.to_state.value,
        to_datetime(t.at_ms),
        _at(t.opened_ms),
        _at(t.open_until_ms),
        t.consecutive_opens,
        t.permits_remaining,
        _at(t.half_open_deadline_ms),
        t.forced_by,
        t.forced_reason,
        t.version,
    )


async def persist_transitions(
    db: Database, key: BreakerKey, transitions: Iterable[Transition]
) -> int:
    """Record `transitions` (in order) for one breaker; returns how many events were new."""
    return await persist_many(db, [(key, transitions)])


async def persist_many(
    db: Database, changed: Iterable[tuple[BreakerKey, Iterable[Transition]]]
) -> int:
    """Record the transitions of many breakers (each breaker's in order): one transaction per
    tenant, in which each statement goes once for all its rows (psycopg pipelines an
    `executemany`). An outage opens many breakers in one batch of the stream; a transaction
    each made that batch wait a round trip per breaker. Returns how many events were new;
    raises at the first tenant whose transaction fails (those before it are written)."""
    by_tenant: dict[uuid.UUID, list[tuple[BreakerKey, Transition]]] = {}
    for key, transitions in changed:
        by_tenant.setdefault(key.tenant_id, []).extend((key, t) for t in transitions)
    written = 0
    for tenant_id, pending in by_tenant.items():
        if pending:
            written += await with_retry(functools.partial(_write, db, tenant_id, pending))
    return written


async def _write(
    db: Database, tenant_id: uuid.UUID, pending: Sequence[tuple[BreakerKey, Transition]]
) -> int:
    async with db.tenant_transaction(tenant_id) as conn, conn.cursor() as cursor:
        await cursor.executemany(_INSERT_EVENT, [_event_row(k, t) for k, t in pending])
        written = cursor.rowcount  # the sum over the rows: those not there before
        # the state row only moves to a higher version, so one upsert per transition in
        # order ends at the breaker's latest, as it did one transition at a time
        await cursor.executemany(_UPSERT_STATE, [_state_row(k, t) for k, t in pending])
    return written


async def load_config(db: Database, key: BreakerKey) -> BreakerConfig:
    """The agent's configuration, or the defaults when it has no row."""
    async with db.tenant_transaction(key.tenant_id) as conn:
        cursor = await conn.execute(
            "select * from circuit_breaker_configs where agent_id = %s", (key.agent_id,)
        )
        return BreakerConfig.from_row(await cursor.fetchone())


def _half_open_round(
    row: Mapping[str, Any], probe_limit: int
) -> tuple[int, int, tuple[tuple[int, int], ...]]:
    """(probe limit, probes admitted, probes out) of a half-open row: from the round its
    event recorded, or (a row written by something else) a guess from the row's columns."""
    recorded = row.get("half_open")
    if isinstance(recorded, Mapping):
        limit, issued = int(recorded["probe_limit"]), int(recorded["probes_issued"])
        out = tuple(sorted((int(slot), int(deadline)) for slot, deadline in recorded["probes_out"]))
        if limit - issued == row["half_open_permits_remaining"] and all(s < issued for s, _ in out):
            return limit, issued, out
    deadline = row["half_open_deadline_at"]
    remaining = int(row["half_open_permits_remaining"])
    limit = max(probe_limit, remaining + (deadline is not None))
    issued = limit - remaining
    out = ((issued - 1, to_ms(deadline)),) if deadline is not None else ()
    return limit, issued, out


def state_from_row(row: Mapping[str, Any], probe_limit: int) -> BreakerState:
    """The store state for a `circuit_breaker_states` row, with an empty window.

    A row is written at transitions only, so probes admitted after it are unknown: their
    results count for nothing (their slots are not out), and a probe out at the transition
    that reported after it is awaited again until its deadline. At worst a round admits up to
    `probe_limit` - 1 extra probes across a Redis loss; it never wedges.
    """
    state = State(row["state"])
    changed = to_ms(row["state_changed_at"])
    limit = issued = 0
    probes: tuple[tuple[int, int], ...] = ()
    if state is State.HALF_OPEN:
        limit, issued, probes = _half_open_round(row, probe_limit)
    return BreakerState(
        state=state,
        version=int(row["version"]),
        changed_ms=changed,
        clock_ms=changed,
        opened_ms=None if row["opened_at"] is None else to_ms(row["opened_at"]),
        open_until_ms=None if row["open_until"] is None else to_ms(row["open_until"]),
        consecutive_opens=int(row["consecutive_opens"]),
        probe_limit=limit,
        probes_issued=issued,
        probes_succeeded=issued - len(probes),
        probe_deadlines=probes,
        forced_by=row["forced_by"],
        forced_reason=row["forced_reason"],
    )


async def breaker_tenants(db: Database) -> list[uuid.UUID]:
    """Every tenant with a breaker row (through the one function that may look past RLS)."""
    async with db.transaction() as conn:
        cursor = await conn.execute("select app.circuit_breaker_tenants() as tenant_id")
        return [row["tenant_id"] for row in await cursor.fetchall()]


async def restore_from_postgres(
    db: Database,
    store: BreakerStore,
    *,
    now_ms: int,
    tenant_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Put every breaker's last persisted state back into `store`; returns how many were
    installed. A breaker the store holds at the same or a newer version is left alone, so
    this is safe to run at any time, by several workers at once."""
    tenants = await breaker_tenants(db) if tenant_ids is None else list(tenant_ids)
    installed = 0
    for tenant_id in tenants:
        async with db.tenant_transaction(tenant_id) as conn:
            rows = await (await conn.execute(_STATES)).fetchall()
        for row in rows:
            try:
                limit = BreakerConfig.from_row(row["config"]).half_open_permitted_probes
            except BreakerConfigError as exc:
                log.warning(
                    "breaker of agent %s: %s; restoring with the default probe count",
                    row["agent_id"],
                    exc,
                )
                limit = BreakerConfig().half_open_permitted_probes
            key = BreakerKey(tenant_id, row["agent_id"])
            installed += await store.restore(key, state_from_row(row, limit))
    await store.mark_restored(now_ms)
    return installed
