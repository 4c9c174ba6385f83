"""Sliding 5-minute and 1-hour windows per agent and per variant, in Redis (`RedisWindows`),
with latency quantiles from a mergeable log-bucket histogram (`sketch`)."""

from meta_agent.agent_key import AgentKey
from meta_agent.health_thresholds import DEFAULT_SLOW_CALL_MS
from realtime.windows.execution import BadExecutionEntry, Execution, parse_entry
from realtime.windows.store import (
    AgentWindows,
    RedisWindows,
    WindowStats,
    variant_member,
)

__all__ = [
    "DEFAULT_SLOW_CALL_MS",
    "AgentKey",
    "AgentWindows",
    "BadExecutionEntry",
    "Execution",
    "RedisWindows",
    "WindowStats",
    "parse_entry",
    "variant_member",
]
