"""What a FleetSpec accepts, and the default fleet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from meta_agent.simulate import DEFAULT_PROFILES, FleetSpec, default_fleet
from meta_agent.simulate.catalogue import PM_ASSISTANT


def test_default_fleet_ends_yesterday_and_names_its_days() -> None:
    spec = default_fleet(seed=3, days=5)
    assert spec.end_day == datetime.now(UTC).date() - timedelta(days=1)
    assert spec.start_day == spec.end_day - timedelta(days=4)
    assert len(spec.day_list) == 5
    assert spec.profiles == DEFAULT_PROFILES


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"days": 0}, "days"),
        ({"executions_per_day": -5}, "executions_per_day"),
        ({"profiles": ()}, "at least one"),
        ({"profiles": (PM_ASSISTANT, PM_ASSISTANT)}, "unique"),
        ({"faults": ("meteor_strike",)}, "unknown fault"),
        ({"faults": ("prompt_regression", "prompt_regression")}, "at most one"),
    ],
)
def test_a_spec_refuses_what_it_cannot_simulate(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"seed": 1, "end_day": date(2025, 1, 31), **changes}
    with pytest.raises(ValueError, match=message):
        FleetSpec(**arguments)  # type: ignore[arg-type]


def test_traffic_shares_are_normalised_over_the_chosen_profiles() -> None:
    spec = FleetSpec(seed=1, end_day=date(2025, 1, 31), profiles=(PM_ASSISTANT,))
    assert spec.share(PM_ASSISTANT) == 1.0
