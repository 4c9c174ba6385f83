"""The pure core against the independent reference model: any interleaving, no divergence."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from meta_agent.breaker import BreakerConfig, BreakerState
from tests.meta_agent.breaker.machine import (
    BreakerComparison,
    Driver,
    PureDriver,
    without_generated_reasons,
)
from tests.meta_agent.breaker.reference import ReferenceBreaker


def project(state: BreakerState) -> dict[str, object]:
    """The core's state in the reference's terms."""
    return {
        "state": state.state,
        "version": state.version,
        "changed": state.changed_ms,
        "clock": state.clock_ms,
        "opened": state.opened_ms,
        "open_until": state.open_until_ms,
        "consecutive_opens": state.consecutive_opens,
        "consecutive_failures": state.consecutive_failures,
        "probe_limit": state.probe_limit,
        "probes_issued": state.probes_issued,
        "probes_succeeded": state.probes_succeeded,
        "probes_out": state.probe_deadlines,
        "forced": (state.forced_by, state.forced_reason),
        "window": (state.window.calls, state.window.failures, state.window.slow_calls),
    }


class PureAgainstReference(BreakerComparison):
    subject: PureDriver
    reference: ReferenceBreaker

    def drivers(self, config: BreakerConfig) -> tuple[Driver, Driver]:
        return PureDriver(config), ReferenceBreaker(config)

    def comparable(self, transitions):
        return without_generated_reasons(transitions)

    def same_state(self) -> None:
        self.same(project(self.subject.state), self.reference.snapshot())


def test_the_core_never_diverges_from_the_reference() -> None:
    run_state_machine_as_test(
        PureAgainstReference,
        settings=settings(max_examples=300, stateful_step_count=50, deadline=None),
    )
