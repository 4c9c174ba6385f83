"""The fleet as polars frames, one (agent, day) chunk at a time, built from whole arrays.

Every chunk draws from its own random stream, seeded by (seed, agent, day), so a chunk is the
same whether it is generated alone, in a test, or in the middle of a fourteen-day load.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from meta_agent.simulate.actions import STATUSES, ExecutionRun
from meta_agent.simulate.faults import FAULT_KINDS, FaultExposure, expose, plan_faults
from meta_agent.simulate.fleet import DEFAULT_TENANT_ID, FleetSpec, agent_id, prompt_version_id
from meta_agent.simulate.frames import (
    ACTION_SCHEMA,
    EXECUTION_SCHEMA,
    constant,
    costs,
    durations_ms,
    timestamps,
)
from meta_agent.simulate.ids import hex_strings, uuid7_bytes, uuid_strings
from meta_agent.simulate.profiles import AgentProfile
from meta_agent.simulate.traffic import arrivals, chunk_rng, executions_on

SDK_VERSION = "0.1.0"
_BODY_STREAM = 1
_METADATA = pl.Series(["{}", *(f'{{"sim_fault":"{kind}"}}' for kind in FAULT_KINDS)])
_STATUS_TEXT = pl.Series(STATUSES)


class FleetChunk(NamedTuple):
    """The executions one agent started on one UTC day, and all of their actions."""

    day: date
    agent: str
    executions: pl.DataFrame
    actions: pl.DataFrame


def iter_chunks(
    spec: FleetSpec, *, tenant_id: uuid.UUID = DEFAULT_TENANT_ID
) -> Iterator[FleetChunk]:
    """Every chunk of the fleet, day by day, agents in the order of `spec.profiles`."""
    for day in spec.day_list:
        for profile in spec.profiles:
            yield generate_chunk(spec, profile, day, tenant_id=tenant_id)


def generate(
    spec: FleetSpec, *, tenant_id: uuid.UUID = DEFAULT_TENANT_ID
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The whole fleet as one executions frame and one actions frame."""
    chunks = list(iter_chunks(spec, tenant_id=tenant_id))
    return (
        pl.concat([chunk.executions for chunk in chunks]),
        pl.concat([chunk.actions for chunk in chunks]),
    )


def generate_chunk(
    spec: FleetSpec,
    profile: AgentProfile,
    day: date,
    *,
    tenant_id: uuid.UUID = DEFAULT_TENANT_ID,
) -> FleetChunk:
    """One agent's day, rebuilt from (seed, agent, day) alone: any chunk, in any order."""
    rng = chunk_rng(spec, profile, day, _BODY_STREAM)
    traffic = arrivals(profile, day, executions_on(spec, profile, day), rng)
    faults = tuple(fault for fault in plan_faults(spec) if fault.agent == profile.name)
    exposure = expose(faults, traffic.started_us, rng)
    run = ExecutionRun(profile, traffic.started_us, exposure, rng)
    run.run()
    execution_raw = uuid7_bytes(traffic.started_us, rng)
    execution_ids = uuid_strings("execution_id", execution_raw)
    tenant, agent = str(tenant_id), str(agent_id(tenant_id, spec, profile))
    columns = run.action_arrays()
    actions = _action_frame(run, columns, execution_ids, tenant, agent, rng)
    n = traffic.started_us.shape[0]
    session = None
    if traffic.session is not None and traffic.session_keys is not None:
        session = ("sess_" + hex_strings("session_id", traffic.session_keys)).gather(
            traffic.session
        )
    versions = pl.Series(
        [str(prompt_version_id(tenant_id, spec, profile, version)) for version in (1, 2)]
    )
    executions = pl.DataFrame(
        [
            execution_ids,
            constant("tenant_id", tenant, n),
            constant("agent_id", agent, n),
            timestamps("started_at", traffic.started_us),
            timestamps("ended_at", run.cursor),
            durations_ms("duration_ms", traffic.started_us, run.cursor),
            _STATUS_TEXT.gather(run.status).alias("status"),
            constant("session_id", None, n) if session is None else session.alias("session_id"),
            constant("parent_execution_id", None, n),
            hex_strings("trace_id", execution_raw),
            versions.gather(exposure.prompt_version.astype(np.int64) - 1).alias(
                "prompt_version_id"
            ),
            constant("experiment_id", None, n),
            constant("variant", None, n),
            constant("model", profile.model, n),
            *_totals(columns, n),
            run.vocab.column("error_type", run.error_type),
            run.vocab.column("error_message", run.error_message),
            *_payloads(run, exposure, rng),
            _METADATA.gather(exposure.label.astype(np.int64) + 1).alias("metadata"),
            constant("sdk_version", SDK_VERSION, n),
        ]
    )
    assert executions.schema == EXECUTION_SCHEMA, executions.schema
    return FleetChunk(day, profile.name, executions, actions)


def _totals(columns: dict[str, np.ndarray], n: int) -> list[pl.Series]:
    """Token and cost totals of each execution: exactly the sum of its actions."""

    def total(column: str) -> npt.NDArray[np.int64]:
        # float64 sums of integers below 2**53 are exact
        sums = np.bincount(columns["execution"], weights=columns[column], minlength=n)
        return sums.astype(np.int64)

    return [
        pl.Series("input_tokens", total("input_tokens"), dtype=pl.Int32),
        pl.Series("output_tokens", total("output_tokens"), dtype=pl.Int32),
        costs("cost_usd", total("cost")),
    ]


def _payloads(
    run: ExecutionRun, exposure: FaultExposure, rng: np.random.Generator
) -> list[pl.Series]:
    """Small input/output documents: the input's size, and a quality score for answers."""
    n = run.cursor.shape[0]
    # a regressed prompt still answers, but worse: graders see it before error rates move
    quality = np.where(exposure.regressed, rng.beta(4.0, 4.0, n), rng.beta(9.0, 2.0, n))
    frame = pl.DataFrame(
        {
            "ok": run.status == 0,
            "chars": run.first_input_tokens * 4,
            "score": np.round(quality, 3),
        }
    )
    documents = frame.select(
        pl.when(pl.col("chars") > 0)
        .then(pl.format('{{"input_chars":{}}}', "chars"))
        .alias("input"),
        pl.when("ok").then(pl.format('{{"quality":{}}}', "score")).alias("output"),
    )
    return [documents.to_series(0).alias("input"), documents.to_series(1).alias("output")]


def _action_frame(
    run: ExecutionRun,
    columns: dict[str, np.ndarray],
    execution_ids: pl.Series,
    tenant: str,
    agent: str,
    rng: np.random.Generator,
) -> pl.DataFrame:
    # ids follow the order actions were opened, so they do not depend on the final sort
    action_raw = uuid7_bytes(columns["start"], rng)
    # rows go out in time order: the primary key's UUIDv7s then arrive almost ascending
    order = np.argsort(columns["start"], kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    c = {key: values[order] for key, values in columns.items()}
    ids = uuid_strings("action_id", action_raw[order])
    m = ids.len()
    frame = pl.DataFrame(
        [
            ids,
            constant("tenant_id", tenant, m),
            execution_ids.gather(c["execution"]),
            _parent_ids(ids, c["parent"], position),
            constant("agent_id", agent, m),
            pl.Series("sequence", c["seq"], dtype=pl.Int32),
            run.vocab.column("action_type", c["action_type"]),
            run.vocab.column("name", c["name"]),
            timestamps("started_at", c["start"]),
            timestamps("ended_at", c["end"]),
            durations_ms("duration_ms", c["start"], c["end"]),
            _STATUS_TEXT.gather(c["status"].astype(np.int64)).alias("status"),
            run.vocab.column("model", c["model"]),
            pl.Series("input_tokens", c["input_tokens"], dtype=pl.Int32),
            pl.Series("output_tokens", c["output_tokens"], dtype=pl.Int32),
            costs("cost_usd", c["cost"]),
            run.vocab.column("error_type", c["error_type"]),
            run.vocab.column("error_message", c["error_message"]),
            constant("input", None, m),
            constant("output", None, m),
            run.vocab.column("attributes", c["attributes"]),
        ]
    )
    assert frame.schema == ACTION_SCHEMA, frame.schema
    return frame


def _parent_ids(ids: pl.Series, parent: npt.NDArray[np.int64], position: np.ndarray) -> pl.Series:
    with_nulls = pl.Series(np.where(parent < 0, 0, position[np.maximum(parent, 0)]))
    with_nulls = pl.select(pl.when(pl.Series(parent >= 0)).then(with_nulls)).to_series()
    return ids.gather(with_nulls).alias("parent_action_id")
