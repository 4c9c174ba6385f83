"""The error behind an alert: the most frequent error type among the agent's failed
executions of the last few minutes, with one of its messages, so a notification says not
only that an agent fails but how (`details.top_error`, which every channel shows).

Looked up by the engine only when an alert of a failing type is about to notify, in the
transaction that queues the notification: a suppressed repeat costs no query."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from psycopg import AsyncConnection

from meta_agent.models.alerting import AlertType

# alert types caused by failing executions: their notifications name the commonest error
FAILING_TYPES: frozenset[AlertType] = frozenset(
    {"health_degraded", "health_critical", "circuit_opened", "error_rate_spike"}
)
# what the realtime windows judged: health, breakers and spikes look at the last 5 minutes
LOOKBACK = dt.timedelta(minutes=5)

_TOP_ERROR = """
select error_type as type, left(max(error_message), 300) as message, count(*) as count
from raw.executions
where agent_id = %s and started_at >= %s and status in ('failure', 'timeout')
group by error_type
order by count(*) desc, error_type nulls last
limit 1
"""


async def top_error(
    conn: AsyncConnection[dict[str, Any]], agent_id: uuid.UUID, now: dt.datetime
) -> dict[str, Any] | None:
    """{"type", "message", "count"} of the agent's commonest recent error; None without one.
    One index range scan (tenant, agent, started_at) over minutes of rows; the connection's
    tenant transaction confines it."""
    cursor = await conn.execute(_TOP_ERROR, (agent_id, now - LOOKBACK))
    row = await cursor.fetchone()
    if row is None:
        return None
    return {"type": row["type"], "message": row["message"], "count": int(row["count"])}
