"""SLAs, evaluation reports, failure embeddings and clusters, root causes, improvement
proposals (migration 0005). Apart from SLAs and proposal decisions, the daily pipeline writes
these rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import Embedding, JsonObject, Name, TableModel

SlaPeriod = Literal["daily", "weekly", "monthly"]
# who wrote a report, root cause or proposal: Claude, or the offline heuristics
Engine = Literal["claude", "offline"]
ReportStatus = Literal["pending", "completed", "failed", "superseded"]
ClusteringAlgorithm = Literal["hdbscan", "dbscan", "optics", "kmeans", "agglomerative", "birch"]
RootCauseCategory = Literal[
    "tool_failure",
    "prompt_regression",
    "context_overflow",
    "external_dependency",
    "cost_anomaly",
    "model_error",
    "data_quality",
    "unknown",
]
ProposalKind = Literal["prompt_change", "config_change", "tool_change", "model_change"]
ProposalStatus = Literal[
    "draft", "pending_approval", "approved", "rejected", "applied", "superseded"
]


class SlaDefinition(TableModel):
    """An SLA in force from effective_from until effective_to; agent_id None is tenant-wide."""

    __table__ = "public.sla_definitions"

    sla_definition_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None = None
    name: Name
    target_success_rate: float | None = Field(default=None, gt=0, le=1)
    target_p95_ms: float | None = Field(default=None, gt=0)
    target_availability: float | None = Field(default=None, gt=0, le=1)
    max_cost_per_execution_usd: Decimal | None = Field(
        default=None, gt=0, max_digits=14, decimal_places=8
    )
    period: SlaPeriod = "monthly"
    # share of a period's executions allowed to fail; None means 1 - target_success_rate
    error_budget: float | None = Field(default=None, gt=0, lt=1)
    effective_from: AwareDatetime
    effective_to: AwareDatetime | None = None
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class EvaluationReport(TableModel):
    """A versioned report over the half-open period [period_start, period_end)."""

    __table__ = "public.evaluation_reports"

    evaluation_report_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    period_start: dt.date
    period_end: dt.date
    version: int = Field(default=1, gt=0)
    engine: Engine
    model: str | None = None
    status: ReportStatus = "completed"
    executions_evaluated: int = Field(default=0, ge=0)
    scores: JsonObject = Field(default_factory=dict)
    summary: str = ""
    recommendations: list[Any] = Field(default_factory=list)
    dagster_run_id: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ExecutionEmbedding(TableModel):
    """One embedding per execution and model; outlives the execution's raw partition."""

    __table__ = "public.execution_embeddings"

    tenant_id: uuid.UUID
    execution_id: uuid.UUID
    started_at: AwareDatetime
    agent_id: uuid.UUID
    model: Name
    embedding: Embedding
    # sha256 of the embedded text, so a re-run embeds only new text
    text_hash: bytes = Field(min_length=32, max_length=32)
    created_at: AwareDatetime


class FailureCluster(TableModel):
    """A cluster of one day's failures; agent_id None when it spans agents."""

    __table__ = "public.failure_clusters"

    failure_cluster_id: uuid.UUID
    tenant_id: uuid.UUID
    partition_date: dt.date
    agent_id: uuid.UUID | None = None
    label: str = Field(min_length=1, max_length=500)
    size: int = Field(gt=0)
    centroid: Embedding
    first_seen_at: AwareDatetime
    last_seen_at: AwareDatetime
    representative_execution_ids: list[uuid.UUID] = Field(default_factory=list)
    algorithm: ClusteringAlgorithm
    params: JsonObject = Field(default_factory=dict)
    dagster_run_id: str | None = None
    created_at: AwareDatetime


class FailureClusterMember(TableModel):
    __table__ = "public.failure_cluster_members"

    tenant_id: uuid.UUID
    failure_cluster_id: uuid.UUID
    execution_id: uuid.UUID
    started_at: AwareDatetime
    agent_id: uuid.UUID
    distance: float = Field(ge=0)
    created_at: AwareDatetime


class RootCauseAnalysis(TableModel):
    __table__ = "public.root_cause_analyses"

    root_cause_analysis_id: uuid.UUID
    tenant_id: uuid.UUID
    failure_cluster_id: uuid.UUID
    category: RootCauseCategory
    confidence: float = Field(ge=0, le=1)
    evidence: JsonObject = Field(default_factory=dict)
    engine: Engine
    model: str | None = None
    summary: str = ""
    created_at: AwareDatetime


class ImprovementProposal(TableModel):
    """A proposed change; decided by a person (decided_by) or a policy (approval_policy)."""

    __table__ = "public.improvement_proposals"

    improvement_proposal_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
    root_cause_analysis_id: uuid.UUID | None = None
    kind: ProposalKind
    title: str = Field(min_length=1, max_length=500)
    rationale: str = ""
    # the proposed change: a prompt diff, a config patch, ...
    payload: JsonObject = Field(default_factory=dict)
    engine: Engine
    model: str | None = None
    status: ProposalStatus = "draft"
    decided_by: str | None = None
    decided_at: AwareDatetime | None = None
    decision_reason: str | None = None
    approval_policy: str | None = None
    applied_prompt_version_id: uuid.UUID | None = None
    applied_at: AwareDatetime | None = None
    # learnings this proposal builds on
    cites_learning_ids: list[uuid.UUID] = Field(default_factory=list)
    created_at: AwareDatetime
    updated_at: AwareDatetime
