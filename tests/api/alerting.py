"""Firing alerts for the API tests the way the realtime worker does: through the alert
engine, on the app role, against the test database."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from meta_agent.alerting.engine import AlertEngine, Outcome
from meta_agent.alerting.signals import Fire
from meta_agent.connections import ServerUrls
from meta_agent.db import Database


def fire(
    urls: ServerUrls,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID | str | None,
    **fields: Any,
) -> Outcome:
    """One firing of an alert condition (an error-rate spike unless told otherwise)."""
    signal = Fire(
        tenant_id=tenant_id,
        agent_id=uuid.UUID(str(agent_id)) if agent_id is not None else None,
        alert_type=fields.pop("alert_type", "error_rate_spike"),
        title=fields.pop("title", "error rate above 20 %"),
        at=fields.pop("at", dt.datetime.now(dt.UTC)),
        severity=fields.pop("severity", "warning"),
        **fields,
    )

    async def run() -> Outcome:
        async with Database(urls.app_database_url, max_size=2) as db:
            return await AlertEngine(db).fire(signal)

    return asyncio.run(run())
