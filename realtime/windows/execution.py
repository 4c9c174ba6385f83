"""One execution as the realtime worker sees it: a parsed entry of the ingest stream."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from meta_agent.agent_key import AgentKey
from meta_agent.stream import ENTRY_FIELD, ENTRY_VALUES

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


def _int(text: str, name: str, *, optional: bool = False) -> int | None:
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


def _milliseconds(text: str, name: str) -> int | None:
    """A duration in whole milliseconds, rounded down: `raw.executions.duration_ms` is a
    float. Recovery (`realtime.recovery`) rounds the column the same way, so both file an
    execution under the same end and count it once."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadExecutionEntry(f"{name} is not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BadExecutionEntry(f"{name} must be a finite non-negative number: {text!r}")
    return math.floor(value)


def _uuid(text: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadExecutionEntry(f"{name} is not a UUID: {text!r}") from None


# the agents of the fleet, each parsed once: a busy worker meets the same few hundred ids in
# every batch (bounded: emptied when it grows past this many)
_AGENTS: dict[tuple[str, str], AgentKey] = {}
_MAX_AGENTS = 100_000
_COST_DIGITS = 8  # decimal places of a cost unit (COST_UNITS_PER_USD)


def _agent(tenant_id: str, agent_id: str) -> AgentKey:
    pair = (tenant_id, agent_id)
    agent = _AGENTS.get(pair)
    if agent is None:
        agent = AgentKey(_uuid(tenant_id, "tenant_id"), _uuid(agent_id, "agent_id"))
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


_PACKED = ENTRY_FIELD.encode()
_VALUES = len(ENTRY_VALUES)


def parse_entry(raw: Mapping[Any, Any] | Sequence[bytes]) -> Execution:
    """The execution of one stream entry: its fields as a mapping, or as Redis sends them
    (name, value, name, value ...). The one-field form `meta_agent.stream.execution_entry`
    writes; a field per value (what an earlier version wrote) as well."""
    if isinstance(raw, Mapping):
        packed = raw.get(_PACKED, raw.get(ENTRY_FIELD))
        pairs = raw.items()
    else:
        packed = raw[1] if len(raw) == 2 and raw[0] == _PACKED else None
        pairs = zip(raw[::2], raw[1::2], strict=True)  # type: ignore[assignment]
    if packed is not None:
        parts = _text(packed).split(" ", _VALUES - 1)
        if len(parts) != _VALUES:
            raise BadExecutionEntry(f"{len(parts)} values where an entry has {_VALUES}")
        return _execution(*parts)
    fields = {_text(k): _text(v) for k, v in pairs}
    return _execution(*(fields.get(name, "") for name in ENTRY_VALUES))


def _execution(
    tenant_id: str,
    agent_id: str,
    execution_id: str,
    status: str,
    started_ms: str,
    duration_ms: str,
    cost_usd: str,
    input_tokens: str,
    output_tokens: str,
    prompt_version_id: str,
    permit: str,
    variant: str,
) -> Execution:
    if status not in _STATUSES:
        raise BadExecutionEntry(f"status {status!r} is not an execution status")
    started = _int(started_ms, "started_ms")
    assert started is not None
    return Execution(
        agent=_agent(tenant_id, agent_id),
        execution_id=_uuid(execution_id, "execution_id"),
        status=status,
        started_ms=started,
        duration_ms=_milliseconds(duration_ms, "duration_ms"),
        cost_units=_cost_units(cost_usd) if cost_usd else 0,
        input_tokens=_int(input_tokens, "input_tokens", optional=True) or 0,
        output_tokens=_int(output_tokens, "output_tokens", optional=True) or 0,
        prompt_version_id=prompt_version_id,
        variant=variant,
        permit=permit,
    )
