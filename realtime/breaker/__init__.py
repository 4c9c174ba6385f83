"""Per-agent circuit breakers: a pure state machine (`core`) behind a storage interface
(`BreakerStore`), atomic in Redis (`RedisBreakerStore`), recorded in Postgres (`persistence`)."""

from realtime.breaker.config import BreakerConfig, BreakerConfigError, WindowKind
from realtime.breaker.persistence import (
    load_config,
    persist_transitions,
    restore_from_postgres,
)
from realtime.breaker.redis_store import RedisBreakerStore
from realtime.breaker.state import (
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
from realtime.breaker.store import BreakerKey, BreakerStore, CallResult

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
    "persist_transitions",
    "restore_from_postgres",
]
