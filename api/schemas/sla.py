"""SLA definitions, their daily compliance, and SLA reports by day, week or month.

A definition never changes once days may have been judged against it: a change closes it
(`effective_to`) and starts its successor, and retiring one closes it without a successor.
So the compliance of past days stays what it was, against the targets then in force.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import Field, model_validator

from api.schemas.common import JSON_INTEGER, Name, Omittable, ReadModel, WriteModel
from api.schemas.metrics import Ranged

SlaPeriod = Literal["daily", "weekly", "monthly"]
SlaMetric = Literal["availability", "success_rate", "p95_latency", "cost_per_execution"]
BreachTrend = Literal["worsening", "improving", "stable", "no_previous_period"]

# JSON numbers only (JSON_INTEGER refuses strings and booleans), after the constraints.
Rate = Annotated[float, Field(gt=0, le=1), JSON_INTEGER]
LatencyMs = Annotated[float, Field(gt=0, le=86_400_000), JSON_INTEGER]
# stored as numeric(14, 8): the smallest step it keeps is 1e-8
CostUsd = Annotated[float, Field(ge=0.00000001, le=100_000), JSON_INTEGER]
Budget = Annotated[float, Field(gt=0, lt=1), JSON_INTEGER]

TARGETS = (
    "target_success_rate",
    "target_p95_ms",
    "target_availability",
    "max_cost_per_execution_usd",
)
NO_TARGET = "an SLA sets at least one target: " + ", ".join(TARGETS)


class SlaDefinitionCreate(WriteModel):
    """An SLA for one agent, or (without `agent_id`) for every agent of the tenant that has
    none of its own. It applies from now on; an agent has at most one in force."""

    name: Name = Field(examples=["support bot: monthly availability"])
    agent_id: uuid.UUID | None = Field(
        default=None, description="The agent it covers; null: the tenant-wide default."
    )
    target_success_rate: Rate | None = Field(default=None, examples=[0.97])
    target_p95_ms: LatencyMs | None = Field(default=None, examples=[8_000])
    target_availability: Rate | None = Field(default=None, examples=[0.995])
    max_cost_per_execution_usd: CostUsd | None = Field(default=None, examples=[0.05])
    period: SlaPeriod = Field(default="monthly", description="The period reports judge it over.")
    error_budget: Budget | None = Field(
        default=None,
        description="Share of executions allowed to fail; null: 1 - target_success_rate.",
        examples=[0.03],
    )

    @model_validator(mode="after")
    def _sets_a_target(self) -> SlaDefinitionCreate:
        if all(getattr(self, name) is None for name in TARGETS):
            raise ValueError(NO_TARGET)
        return self


class SlaDefinitionUpdate(WriteModel):
    """Fields to change; those left out stay. Null clears a target or the error budget.
    The definition is closed and its successor (a new id) is returned."""

    name: Omittable[Name] = Field(default=None, examples=["support bot: stricter latency"])
    period: Omittable[SlaPeriod] = None
    target_success_rate: Rate | None = None
    target_p95_ms: LatencyMs | None = Field(default=None, examples=[5_000])
    target_availability: Rate | None = None
    max_cost_per_execution_usd: CostUsd | None = None
    error_budget: Budget | None = None


class SlaDefinition(ReadModel):
    sla_definition_id: uuid.UUID
    agent_id: uuid.UUID | None = Field(description="Null for the tenant-wide default.")
    name: str
    target_success_rate: float | None
    target_p95_ms: float | None
    target_availability: float | None
    max_cost_per_execution_usd: float | None
    period: SlaPeriod
    error_budget: float | None
    effective_from: dt.datetime
    effective_to: dt.datetime | None = Field(description="Set once changed or retired.")
    is_current: bool = Field(description="In force now: not changed, not retired.")
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DailyCompliance(ReadModel):
    """One agent's day judged against an SLA (mart `sla_daily_compliance`). A target the SLA
    does not set, or that the day had nothing to measure for, is null and does not breach."""

    agent_id: uuid.UUID
    agent_name: str | None
    execution_date: dt.date
    sla_definition_id: uuid.UUID
    sla_name: str | None
    is_tenant_wide_sla: bool
    execution_count: int
    decided_execution_count: int
    failure_count: int
    success_rate: float | None
    target_success_rate: float | None
    is_success_rate_met: bool | None
    latency_p95_ms: float | None
    target_p95_latency_ms: float | None
    is_p95_latency_met: bool | None
    availability: float | None
    target_availability: float | None
    is_availability_met: bool | None
    cost_per_execution_usd: float | None
    max_cost_per_execution_usd: float | None
    is_cost_per_execution_met: bool | None
    is_compliant: bool
    breached_metrics: list[SlaMetric] = Field(description="In attribution order.")
    primary_breached_metric: SlaMetric | None
    breach_top_failure_category: str | None = Field(
        description="The cause category with most failures on a breached day."
    )
    breach_top_failure_category_count: int | None
    error_budget: float | None
    error_budget_consumed: float | None = Field(description="1.0 spends the day's budget.")
    is_at_risk: bool | None = Field(description="At least 80 % of the budget consumed.")
    is_error_budget_exhausted: bool | None


class SlaCompliance(Ranged[DailyCompliance]):
    sla_definition_id: uuid.UUID


class SlaReportItem(ReadModel):
    """One agent's period: a day (from `sla_daily_compliance`) or an ISO week or calendar
    month (from `sla_period_compliance`). A day is a period of one day, so its counts are 0
    or 1; the trend fields are the periods' own and null for days, the failure category
    behind a breach is the days' own and null for periods."""

    agent_id: uuid.UUID
    agent_name: str | None
    sla_definition_id: uuid.UUID | None = Field(
        description="The definition of the period's last judged day."
    )
    sla_name: str | None
    period_start: dt.date
    period_end: dt.date = Field(description="The first day after the period.")
    measured_day_count: int
    compliant_day_count: int
    breached_day_count: int
    breach_rate: float | None = Field(description="Breached days over judged days.")
    is_compliant: bool = Field(description="No day of the period breached.")
    breached_metrics: list[SlaMetric] = Field(
        description="Metrics breached on at least one day, in attribution order."
    )
    top_breached_metric: SlaMetric | None
    availability_breach_day_count: int
    success_rate_breach_day_count: int
    p95_latency_breach_day_count: int
    cost_per_execution_breach_day_count: int
    at_risk_day_count: int
    execution_count: int
    decided_execution_count: int
    failure_count: int
    success_rate: float | None
    allowed_failure_count: float | None
    error_budget_consumed: float | None
    is_at_risk: bool | None
    is_error_budget_exhausted: bool | None
    breach_top_failure_category: str | None
    previous_breach_rate: float | None
    breach_trend: BreachTrend | None = Field(
        description="Against the period before; null for days."
    )
    trend_driver_metric: SlaMetric | None


class SlaReport(Ranged[SlaReportItem]):
    """Every period of the range (weeks and months that overlap it), per agent."""

    period: SlaPeriod
