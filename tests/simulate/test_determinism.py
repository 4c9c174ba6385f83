"""The same seed gives the same fleet, chunk by chunk; another seed gives another fleet."""

from __future__ import annotations

import dataclasses

import polars as pl
from polars.testing import assert_frame_equal

from meta_agent.simulate import FleetSpec, generate, generate_chunk, iter_chunks, planned_faults


def test_same_seed_gives_identical_frames(spec: FleetSpec, fleet: tuple[pl.DataFrame, ...]) -> None:
    again = generate(spec)
    assert_frame_equal(again[0], fleet[0])
    assert_frame_equal(again[1], fleet[1])


def test_different_seed_gives_a_different_fleet(
    spec: FleetSpec, fleet: tuple[pl.DataFrame, ...]
) -> None:
    other = generate(dataclasses.replace(spec, seed=spec.seed + 1))
    assert not other[0].equals(fleet[0])
    shared = set(other[0]["execution_id"]) & set(fleet[0]["execution_id"])
    assert not shared
    assert other[0].height != fleet[0].height or not other[0]["started_at"].equals(
        fleet[0]["started_at"]
    )


def test_a_chunk_is_the_same_alone_as_inside_the_fleet(spec: FleetSpec) -> None:
    chunks = list(iter_chunks(spec))
    middle = chunks[len(chunks) // 2 + 1]
    profile = next(p for p in spec.profiles if p.name == middle.agent)
    alone = generate_chunk(spec, profile, middle.day)
    assert_frame_equal(alone.executions, middle.executions)
    assert_frame_equal(alone.actions, middle.actions)


def test_chunks_come_day_by_day_in_profile_order(spec: FleetSpec) -> None:
    keys = [(chunk.day, chunk.agent) for chunk in iter_chunks(spec)]
    assert keys == [(day, p.name) for day in spec.day_list for p in spec.profiles]


def test_the_fault_plan_depends_on_the_seed_not_on_the_traffic(spec: FleetSpec) -> None:
    busier = dataclasses.replace(spec, executions_per_day=spec.executions_per_day * 3)
    assert planned_faults(busier) == planned_faults(spec)
    assert planned_faults(dataclasses.replace(spec, seed=spec.seed + 1)) != planned_faults(spec)
