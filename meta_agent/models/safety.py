"""The safety rail: shadow tests, canary deployments and A/B tests (migration 0006).

Every experiment names its prompt versions together with its agent, so it never compares
versions of different agents.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import CostUsd, JsonObject, Name, TableModel

ShadowTestStatus = Literal["pending", "running", "passed", "failed", "aborted"]
CandidateOutcome = Literal["success", "failure", "timeout"]
CanaryStatus = Literal["pending", "running", "promoted", "rolled_back", "aborted"]
AbTestMetric = Literal["success_rate", "latency_ms", "cost_usd", "judge_score"]
AbTestMethod = Literal["msprt", "e_process", "confidence_sequence"]
AbTestStatus = Literal["draft", "running", "completed", "aborted"]
AbTestDecision = Literal["treatment_better", "control_better", "inconclusive"]
# an analysis run's verdict: a final decision, or keep collecting
AbTestResultDecision = Literal["continue", "treatment_better", "control_better", "inconclusive"]
AbTestUnitKind = Literal["session", "user"]
AbTestVariant = Literal["control", "treatment"]


class ShadowTest(TableModel):
    """Users see only the baseline; a sample of live inputs also runs the candidate."""

    __table__ = "public.shadow_tests"

    shadow_test_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    candidate_prompt_version_id: uuid.UUID
    baseline_prompt_version_id: uuid.UUID
    improvement_proposal_id: uuid.UUID | None = None
    sample_rate: float = Field(gt=0, le=1)
    min_samples: int = Field(default=100, gt=0)
    status: ShadowTestStatus = "pending"
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    results: JsonObject = Field(default_factory=dict)
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ShadowTestResult(TableModel):
    """One sampled live input; scores are normalised to 0..1 whatever the judge's scale."""

    __table__ = "public.shadow_test_results"

    shadow_test_result_id: uuid.UUID
    tenant_id: uuid.UUID
    shadow_test_id: uuid.UUID
    # the live (baseline) execution in raw.executions
    execution_id: uuid.UUID
    started_at: AwareDatetime
    candidate_outcome: CandidateOutcome
    candidate_latency_ms: float | None = Field(default=None, ge=0)
    candidate_cost_usd: CostUsd = Decimal(0)
    candidate_score: float | None = Field(default=None, ge=0, le=1)
    baseline_score: float | None = Field(default=None, ge=0, le=1)
    judge: JsonObject = Field(default_factory=dict)
    created_at: AwareDatetime


class CanaryDeployment(TableModel):
    __table__ = "public.canary_deployments"

    canary_deployment_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    candidate_prompt_version_id: uuid.UUID
    baseline_prompt_version_id: uuid.UUID
    improvement_proposal_id: uuid.UUID | None = None
    status: CanaryStatus = "pending"
    current_stage: int = Field(default=0, ge=0)
    guardrails: JsonObject = Field(default_factory=dict)
    rollback_reason: str | None = None
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CanaryStage(TableModel):
    """Passed once held for min_duration_seconds and min_executions with guardrails intact."""

    __table__ = "public.canary_stages"

    tenant_id: uuid.UUID
    canary_deployment_id: uuid.UUID
    stage_index: int = Field(ge=0)
    traffic_percent: Decimal = Field(gt=0, le=100, max_digits=5, decimal_places=2)
    min_duration_seconds: int = Field(default=0, ge=0)
    min_executions: int = Field(default=0, ge=0)
    entered_at: AwareDatetime | None = None
    passed_at: AwareDatetime | None = None
    metrics: JsonObject = Field(default_factory=dict)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AbTest(TableModel):
    """An anytime-valid A/B test: it may be looked at after every batch."""

    __table__ = "public.ab_tests"

    ab_test_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    name: Name
    control_prompt_version_id: uuid.UUID
    treatment_prompt_version_id: uuid.UUID
    improvement_proposal_id: uuid.UUID | None = None
    # share of units assigned to the treatment
    traffic_split: float = Field(default=0.5, gt=0, lt=1)
    primary_metric: AbTestMetric = "success_rate"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    method: AbTestMethod = "msprt"
    method_params: JsonObject = Field(default_factory=dict)
    # per variant, before any decision is taken
    min_samples: int = Field(default=100, gt=0)
    status: AbTestStatus = "draft"
    decision: AbTestDecision | None = None
    decided_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AbTestAssignment(TableModel):
    """A unit's sticky variant; unit_key is a hex digest, never the session or user id."""

    __table__ = "public.ab_test_assignments"

    tenant_id: uuid.UUID
    ab_test_id: uuid.UUID
    unit_key: str = Field(pattern=r"^[0-9a-f]{16,128}$")
    unit_kind: AbTestUnitKind = "session"
    variant: AbTestVariant
    assigned_at: AwareDatetime


class AbTestResult(TableModel):
    """One analysis run × variant; the effect columns may be None on the control row."""

    __table__ = "public.ab_test_results"

    ab_test_result_id: uuid.UUID
    tenant_id: uuid.UUID
    ab_test_id: uuid.UUID
    computed_at: AwareDatetime
    variant: AbTestVariant
    n: int = Field(ge=0)
    successes: int | None = Field(default=None, ge=0)
    mean: float | None = None
    variance: float | None = Field(default=None, ge=0)
    e_value: float | None = Field(default=None, ge=0)
    p_value: float | None = Field(default=None, ge=0, le=1)
    confidence_lower: float | None = None
    confidence_upper: float | None = None
    decision: AbTestResultDecision = "continue"
    created_at: AwareDatetime
