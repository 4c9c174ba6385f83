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
_STATUSES = FINISHED_STATUSES | {"running"}
# cost is counted in units of 1e-8 USD (the scale of `cost_usd numeric(14, 8)`), so sums are exact
COST_UNITS_PER_USD = 10**8


class BadExecutionEntry(ValueError):
    """A stream entry that cannot be applied; the message says which field and why."""


# not frozen: a frozen dataclass takes three times as long to build, and the worker builds
# one per execution of the stream; nothing changes one once parsed, so it hashes by value
@dataclass(slots=True, unsafe_hash=True)
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


# the agents of the fleet, each parsed once: a busy worker meets the same few hundred ids in
# every batch (bounded: emptied when it grows past this many)
_AGENTS: dict[tuple[str, str], AgentKey] = {}
_MAX_AGENTS = 100_000
_COST_DIGITS = 8  # decimal places of a cost unit (COST_UNITS_PER_USD)


def _agent(fields: Mapping[str, str]) -> AgentKey:
    pair = (fields.get("tenant_id", ""), fields.get("agent_id", ""))
    agent = _AGENTS.get(pair)
    if agent is None:
        agent = AgentKey(_uuid(fields, "tenant_id"), _uuid(fields, "agent_id"))
        if len(_AGENTS) >= _MAX_AGENTS:
            _AGENTS.clear()
        _AGENTS[pair] = agent
    return agent


def _cost_units(text: str) -> int:
    """A cost in USD as whole 1e-8 USD units (digits past the eighth place dropped)."""
    whole, _, fraction = text.partition(".")
    plain = whole.isdecimal() and (not fraction or fraction.isdecimal())
    if plain and len(fraction) <= _COST_DIGITS:
        # the stream's usual form, exactly, without a Decimal
        return int(whole) * COST_UNITS_PER_USD + int(fraction.ljust(_COST_DIGITS, "0") or 0)
    try:
        cost = Decimal(text)
    except InvalidOperation:
        raise BadExecutionEntry(f"cost_usd is not a number: {text!r}") from None
    if not cost.is_finite() or cost < 0:
        raise BadExecutionEntry(f"cost_usd must be a finite non-negative number: {text!r}")
    return int(cost * COST_UNITS_PER_USD)


def parse_entry(raw: Mapping[str | bytes, str | bytes]) -> Execution:
    """The execution of one stream entry (see `meta_agent.stream.execution_entry`)."""
    try:  # a stream entry read from Redis: every name and value is bytes
        fields = {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]
    except AttributeError:
        fields = {_text(k): _text(v) for k, v in raw.items()}
    status = fields.get("status", "")
    if status not in _STATUSES:
        raise BadExecutionEntry(f"status {status!r} is not an execution status")
    cost_text = fields.get("cost_usd", "")
    started = _int(fields, "started_ms")
    assert started is not None
    return Execution(
        agent=_agent(fields),
        execution_id=_uuid(fields, "execution_id"),
        status=status,
        started_ms=started,
        duration_ms=_milliseconds(fields, "duration_ms"),
        cost_units=_cost_units(cost_text) if cost_text else 0,
        input_tokens=_int(fields, "input_tokens", optional=True) or 0,
        output_tokens=_int(fields, "output_tokens", optional=True) or 0,
        prompt_version_id=fields.get("prompt_version_id", ""),
        variant=fields.get("variant", ""),
        permit=fields.get("permit", ""),
    )
