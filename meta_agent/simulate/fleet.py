"""What to simulate: the seed, the days, the traffic, which agents and which faults."""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from meta_agent.simulate.catalogue import DEFAULT_PROFILES
from meta_agent.simulate.faults import FAULT_KINDS, FaultKind
from meta_agent.simulate.ids import stable_uuid
from meta_agent.simulate.profiles import MODEL_PRICES, AgentProfile, Step

# The tenant written into frames generated without a database (tests, benchmarks).
DEFAULT_TENANT_ID = stable_uuid("tenant", "simulation")
_MAX_SEED = 2**63 - 1  # simulated_faults.seed is a bigint


@dataclass(frozen=True)
class FleetSpec:
    """A fleet over `days` UTC days ending with `end_day`, about `executions_per_day` in all."""

    seed: int
    end_day: date
    days: int = 14
    executions_per_day: int = 10_000
    profiles: tuple[AgentProfile, ...] = DEFAULT_PROFILES
    faults: tuple[FaultKind, ...] = FAULT_KINDS

    def __post_init__(self) -> None:
        if not 0 <= self.seed <= _MAX_SEED:
            raise ValueError(f"seed must be between 0 and 2**63-1, got {self.seed}")
        if self.days < 1:
            raise ValueError(f"days must be at least 1, got {self.days}")
        if self.executions_per_day < 0:
            raise ValueError(f"executions_per_day must be >= 0, got {self.executions_per_day}")
        if not self.profiles:
            raise ValueError("a fleet needs at least one agent profile")
        names = [profile.name for profile in self.profiles]
        if len(set(names)) != len(names):
            raise ValueError(f"agent profile names must be unique, got {names}")
        for profile in self.profiles:
            _check_profile(profile)
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")
        if self.faults.count("prompt_regression") > 1:
            raise ValueError("at most one prompt_regression: it lasts until the end of history")

    @property
    def start_day(self) -> date:
        return self.end_day - timedelta(days=self.days - 1)

    @property
    def day_list(self) -> tuple[date, ...]:
        return tuple(self.start_day + timedelta(days=i) for i in range(self.days))

    @property
    def history_start(self) -> datetime:
        return datetime.combine(self.start_day, datetime.min.time(), UTC)

    def share(self, profile: AgentProfile) -> float:
        """The profile's part of the fleet's traffic, normalised over the chosen profiles."""
        return profile.share / sum(p.share for p in self.profiles)


def _check_profile(profile: AgentProfile) -> None:
    if profile.share <= 0:
        raise ValueError(f"profile {profile.name}: share must be positive")
    if not profile.steps:
        raise ValueError(f"profile {profile.name}: needs at least one step")

    def check(steps: tuple[Step, ...]) -> None:
        for step in steps:
            if step.model is not None and step.model not in MODEL_PRICES:
                raise ValueError(f"profile {profile.name}: step {step.name} uses unpriced model")
            if step.action_type == "llm_inference" and (
                step.model is None or step.input_tokens is None or step.output_tokens is None
            ):
                raise ValueError(f"profile {profile.name}: llm step {step.name} needs model+tokens")
            if step.children and (step.failures or step.retries):
                # a wrapper fails when a child does; its own failures would be double-counted
                raise ValueError(
                    f"profile {profile.name}: wrapper step {step.name} cannot fail itself"
                )
            if not 1 <= step.repeats[0] <= step.repeats[1]:
                raise ValueError(f"profile {profile.name}: step {step.name} has bad repeats")
            check(step.children)

    check(profile.steps)


def default_fleet(
    seed: int = 7,
    days: int = 14,
    executions_per_day: int = 10_000,
    *,
    end_day: date | None = None,
    profiles: tuple[AgentProfile, ...] = DEFAULT_PROFILES,
    faults: tuple[FaultKind, ...] = FAULT_KINDS,
) -> FleetSpec:
    """The four standard agents with one fault of each kind, ending yesterday (UTC) by default.

    The end day is resolved here, once, so a FleetSpec never changes with the clock.
    """
    if end_day is None:
        end_day = datetime.now(UTC).date() - timedelta(days=1)
    return FleetSpec(seed, end_day, days, executions_per_day, profiles, faults)


def agent_key(profile: AgentProfile) -> int:
    """A number for the agent's random stream that does not move when other agents are added."""
    return zlib.crc32(profile.name.encode())


def agent_id(tenant_id: uuid.UUID, spec: FleetSpec, profile: AgentProfile) -> uuid.UUID:
    return stable_uuid("agent", tenant_id, spec.seed, profile.name)


def prompt_version_id(
    tenant_id: uuid.UUID, spec: FleetSpec, profile: AgentProfile, version: int
) -> uuid.UUID:
    return stable_uuid("prompt-version", tenant_id, spec.seed, profile.name, version)
