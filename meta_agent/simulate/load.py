"""Load a simulated fleet into Postgres: registry rows with INSERT, raw logs with COPY.

COPY format: binary, encoded from the polars frames by whole columns (binary_copy.py), not
the CSV that polars writes natively. Measured on a 2-core machine with 1M executions + 4.1M
actions: the server alone takes about 58 s to COPY those rows as CSV and 44 s as binary,
because binary leaves it no uuid, timestamp or numeric text to parse. With CSV the whole load
ran at 0.62 of a bare binary COPY (`write_row` of pre-built tuples); with binary it runs at
1.0-1.3, since column-wise encoding costs the client no more than polars' CSV writer.

One transaction per (agent, day) chunk: the chunk is the unit the generator can rebuild on its
own, so an interrupted load is resumed by skipping the chunks already committed; each
transaction stays short, and a failure loses at most one chunk's work.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from meta_agent.simulate.binary_copy import SIGNATURE, TRAILER, EncodedFrame, encode_binary
from meta_agent.simulate.faults import plan_faults
from meta_agent.simulate.fleet import FleetSpec, agent_id
from meta_agent.simulate.frames import PG_TYPES
from meta_agent.simulate.generator import FleetChunk, generate_chunk
from meta_agent.simulate.profiles import AgentProfile
from meta_agent.simulate.registry import FleetLoadError, loaded_chunks, register_fleet

# chunks encoded ahead of the COPY: enough to keep the server busy, little enough memory
_PREFETCH = 2


@dataclass(frozen=True)
class LoadReport:
    """What one `load_fleet` call wrote; chunks already present from an earlier run are skipped."""

    executions: int
    actions: int
    agents: int
    faults: int
    seconds: float
    skipped_chunks: int = 0

    @property
    def rows_per_second(self) -> float:
        return (self.executions + self.actions) / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class _EncodedChunk:
    executions: int
    actions: int
    frames: tuple[tuple[str, EncodedFrame], ...]


def _encode(chunk: FleetChunk) -> _EncodedChunk:
    return _EncodedChunk(
        chunk.executions.height,
        chunk.actions.height,
        (
            ("executions", encode_binary(chunk.executions, PG_TYPES)),
            ("actions", encode_binary(chunk.actions, PG_TYPES)),
        ),
    )


def _copy(cur: psycopg.Cursor, table: str, encoded: EncodedFrame) -> None:
    statement = sql.SQL("copy raw.{} ({}) from stdin (format binary)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, encoded.columns))
    )
    with cur.copy(statement) as copy:
        copy.write(SIGNATURE)
        copy.write(encoded.rows)
        copy.write(TRAILER)


def load_fleet(
    conn: psycopg.Connection,
    *,
    tenant_id: uuid.UUID,
    spec: FleetSpec,
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Write the fleet's agents, prompt versions, faults and raw logs for `tenant_id`.

    `conn` is the owner role (it bypasses RLS) and must not be inside a transaction, because
    every chunk commits on its own. `progress` receives the running total of executions loaded
    after each chunk. Loading the same spec again only fills in the chunks that are missing.
    """
    began = time.perf_counter()
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise FleetLoadError("load_fleet commits chunk by chunk; call it outside a transaction")
    with conn.transaction():
        register_fleet(conn, tenant_id, spec)
        loaded = loaded_chunks(conn, tenant_id, spec)
    faults = len(plan_faults(spec))
    todo = [
        (day, profile)
        for day in spec.day_list
        for profile in spec.profiles
        if (agent_id(tenant_id, spec, profile), day) not in loaded
    ]
    executions = actions = 0
    with conn.cursor() as cur:
        for encoded in _encoded(spec, tenant_id, todo):
            with conn.transaction():
                for table, frame in encoded.frames:
                    _copy(cur, table, frame)
            executions += encoded.executions
            actions += encoded.actions
            if progress is not None:
                progress(executions)
    seconds = time.perf_counter() - began
    skipped = len(spec.day_list) * len(spec.profiles) - len(todo)
    return LoadReport(executions, actions, len(spec.profiles), faults, seconds, skipped)


def _encoded(
    spec: FleetSpec, tenant_id: uuid.UUID, todo: list[tuple[date, AgentProfile]]
) -> Iterator[_EncodedChunk]:
    """Chunks generated and encoded on a worker thread while the server ingests the last one.

    numpy and polars release the GIL for their heavy work, so generation runs on the client's
    spare cores in parallel with the server's COPY instead of before it.
    """
    ready: queue.Queue[_EncodedChunk | BaseException | None] = queue.Queue(maxsize=_PREFETCH)
    stop = threading.Event()

    def hand_over(item: _EncodedChunk | BaseException | None) -> bool:
        # a consumer that stopped early never drains the queue; do not wait for it forever
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for day, profile in todo:
                chunk = generate_chunk(spec, profile, day, tenant_id=tenant_id)
                if not hand_over(_encode(chunk)):
                    return
            hand_over(None)
        except BaseException as error:  # handed to the consumer, which re-raises it
            hand_over(error)

    worker = threading.Thread(target=produce, name="fleet-generator", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
