"""Integrations with outside tools, webhook subscriptions, cost budgets (migration 0007)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, Field

from meta_agent.models.base import JsonObject, Name, SecretEnvVar, TableModel

IntegrationKind = Literal["n8n", "langchain", "clickup", "slack", "generic"]
WebhookEventType = Literal[
    "alert.opened",
    "alert.acknowledged",
    "alert.resolved",
    "health.changed",
    "circuit_breaker.changed",
    "proposal.created",
    "proposal.decided",
    "shadow_test.completed",
    "canary.promoted",
    "canary.rolled_back",
    "ab_test.decided",
    "evaluation_report.completed",
    "budget.warning",
    "budget.exceeded",
]
WebhookDeliveryStatus = Literal["succeeded", "failed"]
BudgetPeriod = Literal["daily", "monthly"]


class Integration(TableModel):
    """An outside tool; the secret is an env var name or ciphertext, never the secret itself."""

    __table__ = "public.integrations"

    integration_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: IntegrationKind
    name: Name
    config: JsonObject = Field(default_factory=dict)
    secret_env_var: SecretEnvVar | None = None
    secret_ciphertext: bytes | None = Field(default=None, min_length=1, repr=False)
    enabled: bool = True
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class WebhookSubscription(TableModel):
    """Deliveries are signed with HMAC, so exactly one signing secret reference is set."""

    __table__ = "public.webhook_subscriptions"

    webhook_subscription_id: uuid.UUID
    tenant_id: uuid.UUID
    integration_id: uuid.UUID | None = None
    url: str = Field(max_length=2048, pattern=r"^https?://\S+$")
    event_types: list[WebhookEventType] = Field(min_length=1)
    signing_secret_env_var: SecretEnvVar | None = None
    signing_secret_ciphertext: bytes | None = Field(default=None, min_length=1, repr=False)
    enabled: bool = True
    last_delivery_at: AwareDatetime | None = None
    last_delivery_status: WebhookDeliveryStatus | None = None
    last_response_code: int | None = Field(default=None, ge=100, le=599)
    # lets the sender disable a subscription whose endpoint keeps failing
    consecutive_failures: int = Field(default=0, ge=0)
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CostBudget(TableModel):
    """A spending limit per period; agent_id None budgets the whole tenant."""

    __table__ = "public.cost_budgets"

    cost_budget_id: uuid.UUID
    tenant_id: uuid.UUID
    agent_id: uuid.UUID | None = None
    period: BudgetPeriod
    amount_usd: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    # share of the amount at which a warning goes out, before budget_exceeded
    warn_at_fraction: float = Field(default=0.8, gt=0, le=1)
    enabled: bool = True
    created_by: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
