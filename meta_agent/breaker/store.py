"""Where breaker state lives, as an interface: the realtime worker, the API and the tests
program against `BreakerStore`; `RedisBreakerStore` is the production implementation.

Every operation is one atomic step on one breaker and returns the transitions it caused,
which the caller persists (`persistence.persist_transitions`) and publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from meta_agent.agent_key import AgentKey
from meta_agent.breaker.config import BreakerConfig
from meta_agent.breaker.state import Acquisition, BreakerState, Outcome, Permit, State, Transition

# one breaker per agent: its key is the agent's, the same the windows and health use
BreakerKey = AgentKey


# not frozen: a frozen dataclass takes twice as long to build, and the realtime worker builds
# one per execution of the stream; nothing changes one once built
@dataclass(slots=True)
class CallResult:
    """One finished call, for `on_results`: most come from the ingest stream, without a permit."""

    key: BreakerKey
    config: BreakerConfig
    outcome: Outcome
    duration_ms: int
    now_ms: int
    permit: Permit | None = None


class BreakerStore(Protocol):
    """Atomic breaker operations; each mirrors the function of the same name in `core`."""

    async def try_acquire(
        self, key: BreakerKey, config: BreakerConfig, now_ms: int
    ) -> Acquisition: ...

    async def on_result(
        self,
        key: BreakerKey,
        config: BreakerConfig,
        permit: Permit | None,
        outcome: Outcome,
        duration_ms: int,
        now_ms: int,
    ) -> tuple[Transition, ...]: ...

    async def on_results(self, results: Sequence[CallResult]) -> list[tuple[Transition, ...]]:
        """`on_result` for each, in order, in one round trip; the transitions of each."""
        ...

    async def advance(
        self, key: BreakerKey, config: BreakerConfig, now_ms: int
    ) -> tuple[Transition, ...]: ...

    async def force(
        self,
        key: BreakerKey,
        config: BreakerConfig,
        target: State,
        actor: str,
        reason: str,
        now_ms: int,
    ) -> tuple[Transition, ...]: ...

    async def reset(
        self, key: BreakerKey, config: BreakerConfig, actor: str, reason: str, now_ms: int
    ) -> tuple[Transition, ...]: ...

    async def reconfigure(
        self, key: BreakerKey, config: BreakerConfig, actor: str, reason: str, now_ms: int
    ) -> tuple[Transition, ...]: ...

    async def load(self, key: BreakerKey) -> BreakerState:
        """The stored state; `BreakerState()` for a breaker never seen (or lost)."""
        ...

    async def restore(self, key: BreakerKey, state: BreakerState) -> bool:
        """Install `state` unless the store already holds its version or a newer one."""
        ...

    async def needs_restore(self) -> bool:
        """True when the store lost its data (or never had it) since the last restore."""
        ...

    async def mark_restored(self, now_ms: int) -> None: ...
