"""Agent health: healthy / degraded / critical / unknown, decided by a pure function
(`evaluate`) from the windows and the agent's thresholds, recorded in Postgres and published
on the tenant's channel `metaagent:events:<tenant_id>` (see `record` for the message)."""

from meta_agent.events import channel
from meta_agent.health_thresholds import Thresholds, ThresholdsError
from realtime.health.evaluate import Evaluation, Health, Status, evaluate
from realtime.health.evaluator import HealthEvaluator, ProfileCache
from realtime.health.record import AgentProfile, Recorded, load_profile
from realtime.health.store import RedisHealthStore

__all__ = [
    "AgentProfile",
    "Evaluation",
    "Health",
    "HealthEvaluator",
    "ProfileCache",
    "Recorded",
    "RedisHealthStore",
    "Status",
    "Thresholds",
    "ThresholdsError",
    "channel",
    "evaluate",
    "load_profile",
]
