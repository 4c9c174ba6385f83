"""MetaAgent SDK: log an agent's executions and actions to MetaAgent.

    from meta_agent_sdk import AgentLogger

    logger = AgentLogger("content-writer")           # METAAGENT_API_KEY, METAAGENT_ENDPOINT
    with logger.execution(input={"topic": "tides"}) as ex:
        with ex.llm_inference("claude-sonnet-4-5") as call:
            call.input_tokens, call.output_tokens = 1200, 300
        ex.tool_call("search", input={"q": "tides"}, duration_ms=41.0)
        ex.output = {"draft": "..."}

Logging never blocks and never raises for delivery problems: a daemon thread batches, gzips
and sends, spools to disk what the server cannot take, and counts anything it drops
(`logger.stats()`). An execution whose circuit breaker is open is refused with
`CircuitOpenError`, decided from cached state without a request (`enforce_circuit=False` to
turn that off).
"""

from meta_agent_sdk._action import Action
from meta_agent_sdk._circuits import CircuitOpenError, CircuitState
from meta_agent_sdk._context import current_execution
from meta_agent_sdk._execution import Execution
from meta_agent_sdk._logger import AgentLogger
from meta_agent_sdk._sanitize import SanitizeConfig
from meta_agent_sdk._stats import Stats
from meta_agent_sdk._version import __version__

__all__ = [
    "Action",
    "AgentLogger",
    "CircuitOpenError",
    "CircuitState",
    "Execution",
    "SanitizeConfig",
    "Stats",
    "__version__",
    "current_execution",
]
