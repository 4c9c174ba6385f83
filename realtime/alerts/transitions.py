"""Transitions as alert signals, as pure functions.

Health: critical fires `health_critical`; degraded fires `health_degraded` and clears
`health_critical` (the agent got better, not well); healthy clears both. A state reached
through the silence rule also fires `silence`, and any state without it clears `silence`.
`unknown` says nothing: stale numbers neither raise nor resolve anything.

Breaker: entering OPEN (or FORCED_OPEN, at info severity) fires `circuit_opened`; CLOSED or
FORCED_CLOSED clears it; HALF_OPEN changes nothing, so a failed probe that reopens the breaker
is a repeat of the same alert, not a new one.
"""

from __future__ import annotations

from collections.abc import Sequence

from meta_agent.agent_key import AgentKey
from meta_agent.alerting.signals import Clear, Fire
from meta_agent.breaker import Transition
from meta_agent.breaker.state import State, to_datetime
from realtime.health.evaluate import Health
from realtime.health.record import Recorded

Signal = Fire | Clear


def health_signals(recorded: Recorded) -> list[Signal]:
    """The alert signals one recorded health transition gives."""
    agent, evaluation = recorded.agent, recorded.evaluation
    at = to_datetime(recorded.at_ms)
    details = {
        "reason": evaluation.reason,
        "from_state": recorded.from_state.value,
        "to_state": evaluation.state.value,
        "causes": sorted(evaluation.causes),
        "metrics": evaluation.metrics,
    }

    def fire(alert_type: str, title: str) -> Fire:
        return Fire(
            agent.tenant_id,
            agent.agent_id,
            alert_type,  # type: ignore[arg-type]
            title,
            at,
            summary=evaluation.reason,
            details=details,
            source="health",
        )

    def clear(alert_type: str) -> Clear:
        return Clear(agent.tenant_id, agent.agent_id, alert_type, at, evaluation.reason)  # type: ignore[arg-type]

    state = evaluation.state
    if state is Health.UNKNOWN:
        return []
    signals: list[Signal] = []
    if state is Health.CRITICAL:
        signals.append(fire("health_critical", "{agent} is critical"))
    elif state is Health.DEGRADED:
        signals += [fire("health_degraded", "{agent} is degraded"), clear("health_critical")]
    else:
        signals += [clear("health_degraded"), clear("health_critical")]
    if "silence" in evaluation.causes:
        signals.append(fire("silence", "{agent} stopped running"))
    else:
        signals.append(clear("silence"))
    return signals


def breaker_signals(agent: AgentKey, transitions: Sequence[Transition]) -> list[Signal]:
    """The alert signals of one breaker's transitions, in order."""
    signals: list[Signal] = []
    for t in transitions:
        at = to_datetime(t.at_ms)
        if t.to_state in (State.OPEN, State.FORCED_OPEN) and t.from_state is not t.to_state:
            forced = t.to_state is State.FORCED_OPEN
            signals.append(
                Fire(
                    agent.tenant_id,
                    agent.agent_id,
                    "circuit_opened",
                    "{agent}: circuit forced open" if forced else "{agent}: circuit opened",
                    at,
                    summary=t.reason,
                    details={
                        "cause": t.cause.value,
                        "forced": forced,
                        "actor": t.actor,
                        "reason": t.reason,
                        "from_state": t.from_state.value,
                        "consecutive_opens": t.consecutive_opens,
                        "open_until_ms": t.open_until_ms,
                        "metrics": t.metrics(),
                    },
                    source="breaker",
                )
            )
        elif t.to_state in (State.CLOSED, State.FORCED_CLOSED):
            signals.append(Clear(agent.tenant_id, agent.agent_id, "circuit_opened", at, t.reason))
    return signals
