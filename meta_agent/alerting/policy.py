"""A tenant's alerting policy, kept in `tenants.settings -> 'alerting'`: the dedup window,
how long a cleared condition must stay clear before its alert resolves itself, severity
overrides per alert type, and how hard the dispatcher tries a channel.

Defaults follow Alertmanager where it has one (repeat after an hour, resolve after five
minutes clear); anything absent from the document takes its default.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel, ConfigDict, Field

from meta_agent.models.alerting import AlertSeverity, AlertType

SETTINGS_KEY = "alerting"


class AlertPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dedup_window_s: float = Field(
        default=3600.0,
        ge=0,
        le=7 * 86_400,
        description="Repeats of an open alert within this long of its last notification are"
        " counted, not sent; the next notification says how many.",
    )
    resolve_after_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="An alert whose condition cleared resolves itself once it has stayed clear"
        " this long; a repeat before that keeps it open (a flapping agent keeps one alert).",
    )
    severities: dict[AlertType, AlertSeverity] = Field(
        default_factory=dict,
        description="A fixed severity per alert type, instead of the one its numbers give.",
    )
    max_attempts: int = Field(
        default=8,
        ge=1,
        le=50,
        description="Attempts per delivery before it is dead-lettered.",
    )
    max_backoff_s: float = Field(default=300.0, ge=1, le=86_400)

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> AlertPolicy:
        return cls.model_validate((settings or {}).get(SETTINGS_KEY) or {})


async def load_policy(conn: AsyncConnection[Any], tenant_id: uuid.UUID) -> AlertPolicy:
    """The tenant's policy (a broken document is a data error: the API validates on write)."""
    cursor = await conn.execute("select settings from tenants where tenant_id = %s", (tenant_id,))
    row = await cursor.fetchone()
    settings = None if row is None else (row["settings"] if isinstance(row, dict) else row[0])
    return AlertPolicy.from_settings(settings)
