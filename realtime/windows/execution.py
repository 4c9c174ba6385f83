"""One execution as the realtime worker sees it: a parsed entry of the ingest stream."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from meta_agent.agent_key import AgentKey

# failed outcomes; 'cancelled' counts as an execution but not a failure, 'running' is not over
FAILED_STATUSES = frozenset({"failure", "timeout"})
FINISHED_STATUSES = FAILED_STATUSES | {"success", "cancelled"}
# cost is counted in units of 1e-8 USD (the scale of `cost_usd numeric(14, 8)`), so sums are exact
COST_UNITS_PER_USD = 10**8


class BadExecutionEntry(ValueError):
    """A stream entry that cannot be applied; the message says which field and why."""


@dataclass(frozen=True)
class Execution:
    agent: AgentKey
    execution_id: uuid.UUID
    status: str
    started_ms: int
    duration_ms: int | None
    cost_units: int
    input_tokens: int
    output_tokens: int
    prompt_version_id: str
    variant: str
    # the breaker permit the agent ran it under (a half-open probe), as a token; "" for none
    permit: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def ended_ms(self) -> int:
        """When it finished: the moment the windows file it under."""
        return self.started_ms + (self.duration_ms or 0)

    @property
    def has_variant(self) -> bool:
        return bool(self.prompt_version_id or self.variant)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _int(fields: Mapping[str, str], name: str, *, optional: bool = False) -> int | None:
    text = fields.get(name, "")
    if not text:
        if optional:
            return None
        raise BadExecutionEntry(f"{name} is missing")
    try:
        value = int(text)
    except ValueError:
        raise BadExecutionEntry(f"{name} is not an integer: {text!r}") from None
    if value < 0:
        raise BadExecutionEntry(f"{name} cannot be negative: {value}")
    return value


def _milliseconds(fields: Mapping[str, str], name: str) -> int | None:
    """A duration in whole milliseconds, rounded down: `raw.executions.duration_ms` is a
    float. Recovery (`realtime.recovery`) rounds the column the same way, so both file an
    execution under the same end and count it once."""
    text = fields.get(name, "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadExecutionEntry(f"{name} is not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BadExecutionEntry(f"{name} must be a finite non-negative number: {text!r}")
    return math.floor(value)


def _uuid(fields: Mapping[str, str], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(fields.get(name, ""))
    except ValueError:
        raise BadExecutionEntry(f"{name} is not a UUID: {fields.get(name)!r}") from None


def parse_entry(raw: Mapping[str | bytes, str | bytes]) -> Execution:
    """The execution of one stream entry (see `meta_agent.stream.execution_entry`)."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    status = fields.get("status", "")
    if status not in FINISHED_STATUSES | {"running"}:
        raise BadExecutionEntry(f"status {status!r} is not an execution status")
    cost_text = fields.get("cost_usd", "")
    try:
        cost = Decimal(cost_text) if cost_text else Decimal(0)
    except InvalidOperation:
        raise BadExecutionEntry(f"cost_usd is not a number: {cost_text!r}") from None
    if not cost.is_finite() or cost < 0:
        raise BadExecutionEntry(f"cost_usd must be a finite non-negative number: {cost_text!r}")
    started = _int(fields, "started_ms")
    assert started is not None
    return Execution(
        agent=AgentKey(_uuid(fields, "tenant_id"), _uuid(fields, "agent_id")),
        execution_id=_uuid(fields, "execution_id"),
        status=status,
        started_ms=started,
        duration_ms=_milliseconds(fields, "duration_ms"),
        cost_units=int(cost * COST_UNITS_PER_USD),
        input_tokens=_int(fields, "input_tokens", optional=True) or 0,
        output_tokens=_int(fields, "output_tokens", optional=True) or 0,
        prompt_version_id=fields.get("prompt_version_id", ""),
        variant=fields.get("variant", ""),
        permit=fields.get("permit", ""),
    )
