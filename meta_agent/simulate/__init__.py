"""The fleet simulator: a seeded, deterministic fleet of agents with labelled faults.

`default_fleet()` describes four agents over fourteen days; `iter_chunks()` yields their raw
logs as polars frames, one (agent, day) at a time; `load_fleet()` writes them to Postgres;
`planned_faults()` is the ground truth of what was injected where.
"""

from meta_agent.simulate.catalogue import DEFAULT_PROFILES
from meta_agent.simulate.faults import FAULT_KINDS, FaultKind, PlannedFault
from meta_agent.simulate.faults import plan_faults as planned_faults
from meta_agent.simulate.fleet import DEFAULT_TENANT_ID, FleetSpec, default_fleet
from meta_agent.simulate.generator import FleetChunk, generate, generate_chunk, iter_chunks
from meta_agent.simulate.load import LoadReport, load_fleet
from meta_agent.simulate.profiles import AgentProfile
from meta_agent.simulate.registry import FleetLoadError
from meta_agent.simulate.traffic import expected_executions

__all__ = [
    "DEFAULT_PROFILES",
    "DEFAULT_TENANT_ID",
    "FAULT_KINDS",
    "AgentProfile",
    "FaultKind",
    "FleetChunk",
    "FleetLoadError",
    "FleetSpec",
    "LoadReport",
    "PlannedFault",
    "default_fleet",
    "expected_executions",
    "generate",
    "generate_chunk",
    "iter_chunks",
    "load_fleet",
    "planned_faults",
]
