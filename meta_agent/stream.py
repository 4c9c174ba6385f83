"""The Redis stream from ingest to the realtime worker: one compact entry per new execution.

Postgres is the record; the stream only carries what the realtime windows need, so a Redis
outage loses nothing that cannot be rebuilt from `raw.executions`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

EXECUTIONS_STREAM = "metaagent:executions"
# The SDK runs a half-open breaker's probe with a permit the API handed out, and puts the
# permit's token in the execution's metadata under this key; the worker hands it back to the
# breaker with the execution's outcome, so the probe counts as that probe.
PERMIT_METADATA_KEY = "metaagent.circuit_permit"
# Approximate trimming keeps memory bounded; the worker reads far faster than this fills.
STREAM_MAX_LEN = 1_000_000


# An entry is one field, `v1`: the values below joined by single spaces, in this order. The
# variant is the only free text and comes last, so it may hold anything (spaces too). A field
# per value cost the worker about 10 µs more per entry to read back and parse (each value is
# a Python object of the reply), a fifth of all it spent on an execution.
ENTRY_FIELD = "v1"
ENTRY_VALUES = (
    "tenant_id",
    "agent_id",
    "execution_id",
    "status",
    "started_ms",
    "duration_ms",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "prompt_version_id",
    "permit",
    "variant",
)


def _permit(token: str | None) -> str:
    """The permit token as the entry carries it: one with a space (it comes from the agent's
    metadata) is none the API issued (`permit_token.encode` writes none), and would shift the
    values after it."""
    return "" if token is None or " " in token else token


def execution_entry(row: Mapping[str, Any]) -> dict[str, str]:
    """The stream entry of one stored execution (a row of raw.executions)."""
    started: dt.datetime = row["started_at"]

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    values = (
        str(row["tenant_id"]),
        str(row["agent_id"]),
        str(row["execution_id"]),
        row["status"],
        str(int(started.timestamp() * 1000)),
        text(row["duration_ms"]),
        text(row["cost_usd"]),
        text(row["input_tokens"]),
        text(row["output_tokens"]),
        text(row["prompt_version_id"]),
        _permit(row.get("circuit_permit")),
        text(row["variant"]),
    )
    return {ENTRY_FIELD: " ".join(values)}


def entry_values(fields: Mapping[str, str]) -> dict[str, str]:
    """An entry's values by name (`ENTRY_VALUES`), for readers other than the worker."""
    parts = fields[ENTRY_FIELD].split(" ", len(ENTRY_VALUES) - 1)
    return dict(zip(ENTRY_VALUES, parts, strict=True))


async def publish_executions(client: aioredis.Redis, rows: Iterable[Mapping[str, Any]]) -> bool:
    """XADD every row in one pipeline; False (and nothing raised) when Redis is unavailable."""
    entries = [execution_entry(row) for row in rows]
    if not entries:
        return True
    try:
        async with client.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.xadd(EXECUTIONS_STREAM, entry, maxlen=STREAM_MAX_LEN, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning(
            "ingest stream unavailable (%s); executions are stored, realtime will catch up", exc
        )
        return False
    return True
