"""The alerting policy as a request body: the engine's own model, taken strictly (no `"5"` or
`false` for a number), so what the document promises is what is accepted."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from meta_agent.alerting.policy import AlertPolicy


def _integral(value: Any) -> Any:
    """JSON's 8.0 is the integer 8 (strict mode alone would refuse it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class AlertPolicyBody(AlertPolicy):
    model_config = ConfigDict(strict=True, allow_inf_nan=False)

    max_attempts: Annotated[int, BeforeValidator(_integral)] = Field(
        default=8, ge=1, le=50, description="Attempts per delivery before it is dead-lettered."
    )
