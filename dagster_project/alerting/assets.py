"""The alerting assets of a day: SLA alerts raised from the day's compliance mart, then the
day's digest queued for every tenant's digest channels and sent.

Both are daily partitions with a single-run backfill policy, like the dbt assets: a range (a
backfill, `full-cycle` over days) is one run that handles each of its days in order.

No `from __future__ import annotations` here: Dagster reads the `context` annotation at runtime.
"""

import asyncio
import datetime as dt
import warnings
from collections import defaultdict
from typing import Any

import dagster as dg

from dagster_project.alerting.resources import AlertingDatabase, links_of
from dagster_project.warehouse.partitions import daily_partitions
from meta_agent.alerting.digest import queue_digests
from meta_agent.alerting.dispatch import Dispatcher, DispatchReport, secret_reader
from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.sla_alerts import raise_sla_alerts
from meta_agent.db import Database
from meta_agent.settings import get_settings

SLA_MARTS = [
    dg.AssetKey(["marts", "sla_daily_compliance"]),
    # the top failure category of an at-risk day (the compliance mart names one for breaches)
    dg.AssetKey(["marts", "agent_error_distribution"]),
]


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The UTC days of the run's partition window, in order."""
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    return [first + dt.timedelta(days=i) for i in range((end - first).days)]


async def _tenant_names(db: Database) -> dict[Any, str]:
    async with db.transaction() as conn:  # the owner role: every tenant
        rows = await (await conn.execute("select tenant_id, name from tenants")).fetchall()
    return {row["tenant_id"]: row["name"] for row in rows}


async def _raise(database: AlertingDatabase, days: list[dt.date]) -> tuple[dict[str, Any], int]:
    links = links_of(get_settings())
    by_day: dict[str, dict[str, dict[str, int]]] = {}
    async with database.open() as db:
        names = await _tenant_names(db)
        engine = AlertEngine(db, links=links)
        for day in days:
            report = await raise_sla_alerts(engine, db, day=day)
            by_day[day.isoformat()] = {
                names.get(tenant, str(tenant)): vars(counts)
                for tenant, counts in report.tenants.items()
            }
        # what the realtime worker's loop does every few seconds, for deployments (and
        # full-cycle) without one: alerts cleared long enough ago resolve, and the digest's
        # dispatch round sends their resolutions; those cleared just now resolve next time
        resolved = await engine.resolve_cleared(dt.datetime.now(dt.UTC))
    return by_day, resolved


async def _digest(database: AlertingDatabase, days: list[dt.date]) -> dict[str, Any]:
    settings = get_settings()
    by_day: dict[str, dict[str, int]] = {}
    async with database.open() as db:
        names = await _tenant_names(db)
        for day in days:
            by_day[day.isoformat()] = {
                name: await queue_digests(db, tenant_id=tenant, day=day, links=links_of(settings))
                for tenant, name in sorted(names.items(), key=lambda item: item[1])
            }
        # one round, so the digest goes out even where no realtime worker runs; leases make
        # it safe beside one that does
        dispatcher = Dispatcher(
            db,
            read_secret=secret_reader(settings),
            private_addresses=settings.private_addresses_allowed,
        )
        try:
            sent = await dispatcher.dispatch_due()
        finally:
            await dispatcher.aclose()
    return {"queued": by_day, "dispatch": sent}


def _totals(by_day: dict[str, dict[str, dict[str, int]]]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for tenants in by_day.values():
        for counts in tenants.values():
            for name, value in counts.items():
                totals[name] += value
    return dict(totals)


# BackfillPolicy on @asset is "beta" in Dagster 1.13 and warns at import (see archive/assets.py)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.asset(
        name="sla_alerts",
        key_prefix=["alerting"],
        group_name="alerting",
        kinds={"postgres"},
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=SLA_MARTS,
        description=(
            "sla_breached alerts for each agent whose day broke its SLA, sla_at_risk for one"
            " that spent 80 % of the day's error budget, and both cleared for a day within"
            " both (meta_agent.alerting.sla_alerts), through the alert engine."
        ),
    )
    def sla_alerts(
        context: dg.AssetExecutionContext, alerting_database: AlertingDatabase
    ) -> dg.MaterializeResult[Any]:
        by_day, resolved = asyncio.run(_raise(alerting_database, partition_days(context)))
        return dg.MaterializeResult(
            metadata={
                **_totals(by_day),
                "resolved_cleared": resolved,
                "per_tenant": dg.MetadataValue.json(by_day),
            }
        )

    @dg.asset(
        name="alert_digest",
        key_prefix=["alerting"],
        group_name="alerting",
        kinds={"postgres"},
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # after the SLA alerts, so the digest of a day holds the alerts raised from it
        deps=[sla_alerts],
        description=(
            "Each tenant's digest of the day's alerts, queued once per digest channel"
            " (meta_agent.alerting.digest), then one dispatch round that sends what is due."
        ),
    )
    def alert_digest(
        context: dg.AssetExecutionContext, alerting_database: AlertingDatabase
    ) -> dg.MaterializeResult[Any]:
        done = asyncio.run(_digest(alerting_database, partition_days(context)))
        sent: DispatchReport = done["dispatch"]
        if sent.dead_lettered:
            context.log.warning(f"{sent.dead_lettered} deliveries dead-lettered this round")
        return dg.MaterializeResult(
            metadata={
                "digests_queued": sum(sum(t.values()) for t in done["queued"].values()),
                "per_tenant": dg.MetadataValue.json(done["queued"]),
                "sent": sent.sent,
                "retrying": sent.retrying,
                "dead_lettered": sent.dead_lettered,
            }
        )
