"""Daily metrics, error distribution and costs, read from the warehouse's marts.

Every warehouse read covers a range of UTC days, `from` and `to` both included, at most
`MAX_RANGE_DAYS` long. A day is named as `YYYY-MM-DD`; pydantic alone would also take a Unix
number for a date, which no client means.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BeforeValidator, Field

from api.errors import ApiError
from api.schemas.common import ERROR_RESPONSES, ErrorResponse, ReadModel

T = TypeVar("T")

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return dt.date.fromisoformat(value)


Day = Annotated[dt.date, BeforeValidator(_iso_day)]

# The marts are built by the daily pipeline; until its first run they do not exist.
WAREHOUSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    503: {
        "model": ErrorResponse,
        "description": "The warehouse has not been built yet (the daily pipeline never ran)",
    },
}


@dataclass(frozen=True)
class DateRange:
    """UTC days from `first` to `last`, both included."""

    first: dt.date
    last: dt.date


def _range_error(parameter: str, message: str) -> ApiError:
    # the shape of a validation error's details, so a client reads both the same way
    details = [{"location": ["query", parameter], "message": message, "type": "date_range"}]
    return ApiError(422, "the request is not valid", details=details)


def date_range(
    from_: Annotated[
        Day | None,
        Query(
            alias="from",
            description=f"First UTC day, included. Default: {DEFAULT_RANGE_DAYS} days up to `to`.",
            examples=["2025-03-01"],
        ),
    ] = None,
    to: Annotated[
        Day | None,
        Query(
            description="Last UTC day, included. Default: today (UTC).",
            examples=["2025-03-31"],
        ),
    ] = None,
) -> DateRange:
    """The dependency every warehouse read takes its days from; 422 for a reversed or overlong
    range (the document cannot say that one parameter must not pass another)."""
    last = to or dt.datetime.now(dt.UTC).date()
    if from_ is None:
        span = min(DEFAULT_RANGE_DAYS - 1, (last - dt.date.min).days)
        return DateRange(last - dt.timedelta(days=span), last)
    if from_ > last:
        raise _range_error("from", "must not be after `to`")
    if (last - from_).days + 1 > MAX_RANGE_DAYS:
        raise _range_error("from", f"the range may cover at most {MAX_RANGE_DAYS} days")
    return DateRange(from_, last)


class Ranged(ReadModel, Generic[T]):
    """Rows of a range of days; `from` and `to` are the days covered, both included."""

    from_: dt.date = Field(alias="from")
    to: dt.date
    items: list[T]


class DailyMetrics(ReadModel):
    """One agent's UTC day (mart `agent_daily_metrics`). Rates are NULL when nothing was
    decided, latencies when nothing finished; days without executions have no row."""

    execution_date: dt.date
    execution_count: int
    success_count: int
    failure_count: int
    timeout_count: int
    decided_execution_count: int
    availability_failure_count: int
    success_rate: float | None
    availability: float | None
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    latency_mean_ms: float | None
    action_count: int
    actions_per_execution: float | None
    tool_call_count: int
    failed_tool_call_count: int
    tool_call_error_rate: float | None
    llm_call_count: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    cost_per_execution_usd: float | None
    human_intervention_count: int
    human_intervened_execution_count: int
    human_intervention_rate: float | None
    session_count: int


class AgentDailyMetrics(Ranged[DailyMetrics]):
    agent_id: uuid.UUID
    agent_name: str


ErrorDimension = Literal["agent", "day", "error_type", "cause_category"]
CostDimension = Literal["agent", "model", "day"]


class ErrorGroup(ReadModel):
    """Failed executions of one group. A dimension the request did not group by is null;
    grouping by `error_type` also gives its `cause_category`."""

    agent_id: uuid.UUID | None
    agent_name: str | None
    execution_date: dt.date | None
    error_type: str | None
    cause_category: str | None
    failure_count: int
    timeout_count: int = Field(description="Of which timed out.")
    availability_failure_count: int = Field(description="Of which count against availability.")
    share_of_failures: float | None = Field(
        description="Of all failures in the answer (the shares sum to 1)."
    )


class ErrorDistribution(Ranged[ErrorGroup]):
    """What failed executions failed with (mart `agent_error_distribution`)."""

    group_by: list[ErrorDimension]
    failure_count: int = Field(description="All failures in the range (and agent, if filtered).")


class CostGroup(ReadModel):
    """LLM spend of one group. A dimension the request did not group by is null."""

    agent_id: uuid.UUID | None
    agent_name: str | None
    model_name: str | None
    execution_date: dt.date | None
    llm_call_count: int
    failed_llm_call_count: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    cost_per_llm_call_usd: float | None
    share_of_cost: float | None = Field(
        description="Of all cost in the answer; null when that is 0."
    )


class CostBreakdown(Ranged[CostGroup]):
    """LLM spend (mart `cost_daily`: llm_inference actions only)."""

    group_by: list[CostDimension]
    cost_usd: Decimal = Field(description="All LLM cost in the range (and agent, if filtered).")
