"""Row models of the operational schema: one frozen pydantic model per table.

`TABLE_MODELS` maps a schema-qualified table name ("public.agents", "raw.executions") to its
model. The enum-like column types (`AgentStatus`, `AlertSeverity`, ...) live in the area
modules next to the models that use them.
"""

from __future__ import annotations

from meta_agent.models.agents import Agent, AgentDependency, PromptVersion
from meta_agent.models.alerting import (
    Alert,
    AlertDelivery,
    AlertRoutingRule,
    AlertSilence,
    NotificationChannel,
)
from meta_agent.models.archive import ArchiveManifestEntry
from meta_agent.models.base import TableModel
from meta_agent.models.integrations import CostBudget, Integration, WebhookSubscription
from meta_agent.models.knowledge import Learning, PromptLibraryComponent
from meta_agent.models.raw import (
    Action,
    AgentExecutionHourly,
    Execution,
    ExecutionHourly,
    SimulatedFault,
)
from meta_agent.models.realtime import (
    AgentHealthRealtime,
    AgentHealthThresholds,
    AgentHealthTransition,
    CircuitBreakerConfig,
    CircuitBreakerEvent,
    CircuitBreakerState,
)
from meta_agent.models.safety import (
    AbTest,
    AbTestAssignment,
    AbTestResult,
    CanaryDeployment,
    CanaryStage,
    ShadowTest,
    ShadowTestResult,
)
from meta_agent.models.tenancy import ApiKey, Tenant
from meta_agent.models.warehouse import (
    EvaluationReport,
    ExecutionEmbedding,
    FailureCluster,
    FailureClusterMember,
    ImprovementProposal,
    RootCauseAnalysis,
    SlaDefinition,
)

__all__ = [
    "TABLE_MODELS",
    "AbTest",
    "AbTestAssignment",
    "AbTestResult",
    "Action",
    "Agent",
    "AgentDependency",
    "AgentExecutionHourly",
    "AgentHealthRealtime",
    "AgentHealthThresholds",
    "AgentHealthTransition",
    "Alert",
    "AlertDelivery",
    "AlertRoutingRule",
    "AlertSilence",
    "ApiKey",
    "ArchiveManifestEntry",
    "CanaryDeployment",
    "CanaryStage",
    "CircuitBreakerConfig",
    "CircuitBreakerEvent",
    "CircuitBreakerState",
    "CostBudget",
    "EvaluationReport",
    "Execution",
    "ExecutionEmbedding",
    "ExecutionHourly",
    "FailureCluster",
    "FailureClusterMember",
    "ImprovementProposal",
    "Integration",
    "Learning",
    "NotificationChannel",
    "PromptLibraryComponent",
    "PromptVersion",
    "RootCauseAnalysis",
    "ShadowTest",
    "ShadowTestResult",
    "SimulatedFault",
    "SlaDefinition",
    "TableModel",
    "Tenant",
    "WebhookSubscription",
]

TABLE_MODELS: dict[str, type[TableModel]] = {
    model.__table__: model
    for model in (
        Tenant,
        ApiKey,
        Agent,
        AgentDependency,
        PromptVersion,
        Execution,
        ExecutionHourly,
        AgentExecutionHourly,
        ArchiveManifestEntry,
        Action,
        SimulatedFault,
        AgentHealthRealtime,
        AgentHealthTransition,
        AgentHealthThresholds,
        CircuitBreakerConfig,
        CircuitBreakerState,
        CircuitBreakerEvent,
        NotificationChannel,
        AlertRoutingRule,
        Alert,
        AlertDelivery,
        AlertSilence,
        SlaDefinition,
        EvaluationReport,
        ExecutionEmbedding,
        FailureCluster,
        FailureClusterMember,
        RootCauseAnalysis,
        ImprovementProposal,
        ShadowTest,
        ShadowTestResult,
        CanaryDeployment,
        CanaryStage,
        AbTest,
        AbTestAssignment,
        AbTestResult,
        Learning,
        PromptLibraryComponent,
        Integration,
        WebhookSubscription,
        CostBudget,
    )
}
