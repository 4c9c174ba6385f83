"""Drive the real SDK with the simulator's agents: the same shapes as the bulk history, but
logged now, through `AgentLogger`, over HTTP, into the API."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meta_agent_sdk import AgentLogger, Execution

from meta_agent.simulate.fleet import FleetSpec
from meta_agent.simulate.generator import generate_chunk


@dataclass(frozen=True)
class LiveReport:
    agents: int
    executions: set[str]
    actions: set[str]


def _error(error_type: str | None, message: str | None) -> Exception:
    # an exception whose class name is the simulated error type, as an agent would raise
    error_class: type[Exception] = type(error_type or "AgentError", (Exception,), {})
    return error_class(message or "")


def _log_action(ex: Execution, row: dict[str, Any]) -> str:
    kind, name, duration = row["action_type"], row["name"], row["duration_ms"]
    failed = row["status"] != "success"
    error = _error(row["error_type"], row["error_message"]) if failed else None
    common: dict[str, Any] = {"duration_ms": duration, "status": row["status"], "error": error}
    if kind == "llm_inference":
        action = ex.llm_inference(
            row["model"] or name, row["input_tokens"], row["output_tokens"], name=name, **common
        )
    elif kind == "error":
        action = ex.error(error or name, name=name, duration_ms=duration)
    else:
        log: Callable[..., Any] = {
            "tool_call": ex.tool_call, "retrieval": ex.retrieval, "decision": ex.decision,
            "human_intervention": ex.human_intervention,
        }.get(kind, ex.custom)  # fmt: skip
        action = log(name, **common)
    return str(action.action_id)


def replay_live(
    spec: FleetSpec, make_logger: Callable[[str], AgentLogger], *, executions_per_agent: int
) -> LiveReport:
    """Log the first executions of each agent's last simulated day through the SDK, now."""
    executions: set[str] = set()
    actions: set[str] = set()
    loggers = []
    for profile in spec.profiles:
        chunk = generate_chunk(spec, profile, spec.end_day)
        rows = chunk.executions.head(executions_per_agent).to_dicts()
        by_execution: dict[str, list[dict[str, Any]]] = defaultdict(list)
        wanted = {row["execution_id"] for row in rows}
        for action in chunk.actions.filter(chunk.actions["execution_id"].is_in(wanted)).to_dicts():
            by_execution[action["execution_id"]].append(action)
        logger = make_logger(profile.name)
        loggers.append(logger)
        for row in rows:
            metadata = json.loads(row["metadata"]) if row["metadata"] else None
            try:
                with logger.execution(metadata=metadata, session_id=row["session_id"]) as ex:
                    executions.add(ex.execution_id)
                    for action in sorted(
                        by_execution[row["execution_id"]], key=lambda a: a["sequence"]
                    ):
                        actions.add(_log_action(ex, action))
                    if row["status"] != "success":
                        raise _error(row["error_type"], row["error_message"])
            except Exception:  # noqa: S110 - the simulated failure, already recorded by the SDK
                pass
    for logger in loggers:
        logger.flush(30)
    return LiveReport(len(loggers), executions, actions)
