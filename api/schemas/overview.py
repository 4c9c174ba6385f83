"""The dashboard's landing numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from api.schemas.common import ReadModel


class AgentCounts(ReadModel):
    total: int
    active: int
    paused: int
    archived: int


class Overview(ReadModel):
    """Agents by status, the last 24 hours of executions, and today's cost (UTC)."""

    agents: AgentCounts
    executions_24h: int
    failures_24h: int
    success_rate_24h: float | None
    cost_today_usd: Decimal
    as_of: dt.datetime
