"""Postgres and pub/sub for health: each agent's profile (thresholds, SLA, recorded state) is
read from Postgres; each transition becomes the `agent_health_realtime` row, a
`agent_health_transitions` row with the numbers that caused it, and one JSON message on the
tenant's channel.

Channel (for the WebSocket; see `meta_agent.events`): `metaagent:events:<tenant_id>`, one
JSON object per message:
  {"type": "health", "tenant_id", "agent_id", "from_state", "to_state", "version",
   "at" (ISO 8601, UTC), "at_ms", "reason", "metrics": {"five_minutes": {...},
   "one_hour": {...}, "consecutive_failures", "last_execution_ms", "evaluated_ms"}}
`version` rises by one per transition of an agent: a client that sees a lower version than
one it already has may drop the message. The breaker's events go on the same channel with
"type": "breaker".
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from psycopg.types.json import Jsonb

from meta_agent.db import Database, with_retry
from meta_agent.events import channel
from meta_agent.health_thresholds import Thresholds
from realtime.health.evaluate import Evaluation, Health, Status
from realtime.windows import AgentKey, AgentWindows, WindowStats

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_datetime(ms: int) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=ms)


def to_ms(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class AgentProfile:
    """What Postgres knows about an agent's health: its thresholds and recorded state."""

    thresholds: Thresholds
    status: Status
    version: int


_PROFILE = """
select a.sla_p95_ms, to_jsonb(t) as thresholds, h.state, h.state_since, h.version
from agents as a
left join agent_health_thresholds as t using (tenant_id, agent_id)
left join agent_health_realtime as h using (tenant_id, agent_id)
where a.agent_id = %s
"""


async def load_profile(db: Database, agent: AgentKey) -> AgentProfile | None:
    """The agent's profile; None when the tenant has no such agent."""
    async with db.tenant_transaction(agent.tenant_id) as conn:
        row = await (await conn.execute(_PROFILE, (agent.agent_id,))).fetchone()
    if row is None:
        return None
    thresholds = Thresholds.from_row(row["thresholds"], sla_p95_ms=row["sla_p95_ms"])
    if row["state"] is None:
        return AgentProfile(thresholds, Status(), 0)
    status = Status(Health(row["state"]), to_ms(row["state_since"]))
    return AgentProfile(thresholds, status, int(row["version"]))


_UPSERT = """
insert into agent_health_realtime as h (
    tenant_id, agent_id, state, state_since,
    executions_5m, failures_5m, error_rate_5m,
    latency_p50_ms_5m, latency_p95_ms_5m, latency_p99_ms_5m, cost_usd_5m,
    executions_1h, failures_1h, error_rate_1h,
    latency_p50_ms_1h, latency_p95_ms_1h, latency_p99_ms_1h, cost_usd_1h,
    consecutive_failures, last_execution_at, evaluated_at, reason, details, version
) values (
    %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
    %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
)
on conflict (tenant_id, agent_id) do update set
    state = excluded.state,
    state_since = excluded.state_since,
    executions_5m = excluded.executions_5m,
    failures_5m = excluded.failures_5m,
    error_rate_5m = excluded.error_rate_5m,
    latency_p50_ms_5m = excluded.latency_p50_ms_5m,
    latency_p95_ms_5m = excluded.latency_p95_ms_5m,
    latency_p99_ms_5m = excluded.latency_p99_ms_5m,
    cost_usd_5m = excluded.cost_usd_5m,
    executions_1h = excluded.executions_1h,
    failures_1h = excluded.failures_1h,
    error_rate_1h = excluded.error_rate_1h,
    latency_p50_ms_1h = excluded.latency_p50_ms_1h,
    latency_p95_ms_1h = excluded.latency_p95_ms_1h,
    latency_p99_ms_1h = excluded.latency_p99_ms_1h,
    cost_usd_1h = excluded.cost_usd_1h,
    consecutive_failures = excluded.consecutive_failures,
    last_execution_at = excluded.last_execution_at,
    evaluated_at = excluded.evaluated_at,
    reason = excluded.reason,
    details = excluded.details,
    version = excluded.version
where h.version <= excluded.version
"""

_INSERT_TRANSITION = """
insert into agent_health_transitions (
    tenant_id, agent_id, from_state, to_state, transitioned_at, reason, metrics, version
) values (%s, %s, %s, %s, %s, %s, %s, %s)
on conflict (tenant_id, agent_id, version) do nothing
"""


def _window_columns(stats: WindowStats) -> list[Any]:
    return [
        stats.executions,
        stats.failures,
        stats.error_rate,
        stats.latency_p50_ms,
        stats.latency_p95_ms,
        stats.latency_p99_ms,
        stats.cost_usd,
    ]


@dataclass(frozen=True)
class Recorded:
    """One evaluation as it is written: the state it leaves, at which version, since when."""

    agent: AgentKey
    from_state: Health
    evaluation: Evaluation
    windows: AgentWindows | None
    version: int
    since_ms: int
    at_ms: int

    def event(self) -> dict[str, Any]:
        return {
            "type": "health",
            "tenant_id": str(self.agent.tenant_id),
            "agent_id": str(self.agent.agent_id),
            "from_state": self.from_state.value,
            "to_state": self.evaluation.state.value,
            "version": self.version,
            "at": to_datetime(self.at_ms).isoformat(),
            "at_ms": self.at_ms,
            "reason": self.evaluation.reason,
            "metrics": self.evaluation.metrics,
        }


async def write(db: Database, recorded: Recorded) -> bool:
    """Upsert the agent's row and, for a transition, insert its history row; True when the
    transition row is new (a retried write returns False)."""
    w = recorded.windows or AgentWindows(WindowStats(), WindowStats(), None, 0)
    last = w.last_execution_ms
    row = [
        recorded.agent.tenant_id,
        recorded.agent.agent_id,
        recorded.evaluation.state.value,
        to_datetime(recorded.since_ms),
        *_window_columns(w.five_minutes),
        *_window_columns(w.one_hour),
        w.consecutive_failures,
        None if last is None else to_datetime(last),
        to_datetime(recorded.at_ms),
        recorded.evaluation.reason,
        Jsonb(recorded.evaluation.metrics),
        recorded.version,
    ]
    changed = recorded.evaluation.state is not recorded.from_state

    async def run() -> bool:
        async with db.tenant_transaction(recorded.agent.tenant_id) as conn:
            await conn.execute(_UPSERT, row)
            if not changed:
                return False
            cursor = await conn.execute(
                _INSERT_TRANSITION,
                (
                    recorded.agent.tenant_id,
                    recorded.agent.agent_id,
                    recorded.from_state.value,
                    recorded.evaluation.state.value,
                    to_datetime(recorded.at_ms),
                    recorded.evaluation.reason,
                    Jsonb(recorded.evaluation.metrics),
                    recorded.version,
                ),
            )
            return cursor.rowcount == 1

    return await with_retry(run)


async def publish(client: aioredis.Redis, recorded: Recorded) -> int:
    """Publish a transition on its tenant's channel; returns how many subscribers got it."""
    message = json.dumps(recorded.event(), separators=(",", ":"))
    return int(await client.publish(channel(recorded.agent.tenant_id), message))
