"""The owner role's database for the alerting assets, and where their notifications point.

The owner role because the SLA alerts read the compliance mart of every tenant at once (it
bypasses RLS, as the batch pipeline does by design); the alert engine and the dispatcher work
tenant by tenant through `tenant_transaction`, so they would work as the app role too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import dagster as dg

from meta_agent.alerting.outbox import Links
from meta_agent.db import Database
from meta_agent.settings import Settings


class AlertingDatabase(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The owner URL; each run opens a small pool of its own (a run is one process)."""

    url: str

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Database]:
        async with Database(self.url, min_size=1, max_size=4) as db:
            yield db


def links_of(settings: Settings) -> Links:
    """Where the digest and SLA alerts link to, as the realtime process's notifications do."""
    return Links.from_settings(settings)
