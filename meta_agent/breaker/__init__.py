"""Per-agent circuit breakers: a pure state machine (`core`) behind a storage interface
(`BreakerStore`), atomic in Redis (`RedisBreakerStore`), recorded in Postgres (`persistence`)."""

from meta_agent.breaker import permit_token
from meta_agent.breaker.config import BreakerConfig, BreakerConfigError, WindowKind
from meta_agent.breaker.persistence import (
    load_config,
    persist_many,
    persist_transitions,
    restore_from_postgres,
)
from meta_agent.breaker.redis_store import RedisBreakerStore
from meta_agent.breaker.state import (
    Acquisition,
    BreakerState,
    Cause,
    Decision,
    Outcome,
    Permit,
    PermitKind,
    Rejected,
    State,
    Transition,
)
from meta_agent.breaker.store import BreakerKey, BreakerStore, CallResult

__all__ = [
    "Acquisition",
    "BreakerConfig",
    "BreakerConfigError",
    "BreakerKey",
    "BreakerState",
    "BreakerStore",
    "CallResult",
    "Cause",
    "Decision",
    "Outcome",
    "Permit",
    "PermitKind",
    "RedisBreakerStore",
    "Rejected",
    "State",
    "Transition",
    "WindowKind",
    "load_config",
    "permit_token",
    "persist_many",
    "persist_transitions",
    "restore_from_postgres",
]
