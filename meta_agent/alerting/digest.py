"""The daily digest: one tenant's UTC day of alerts, queued once per digest channel.

A channel gets the digest when it says it takes one (`supports_digest`) or when an enabled
routing rule sends it alerts in `digest` mode (routing.py queues nothing for those rules: this
is where their alerts reach the channel). A disabled channel gets none.

What the counts mean, for the day [00:00, 24:00) UTC. An alert opens at its `first_seen_at`,
except an SLA alert raised from the warehouse: that one opens at the start of the day it
judged (its `sla_day` label), since the warehouse judges a day only after it ends, and the
digest of that day (built after its SLA alerts: the Dagster asset `alert_digest` depends on
`sla_alerts`) is where it belongs; it is then not "opened" again in the next day's digest.

- `opened`: alerts opened during the day;
- `resolved`: alerts resolved during the day (by a person or automatically), whenever opened;
- `still_open`: alerts unresolved at the day's end: opened before it, and not resolved
  before it (resolved later, or not yet); acknowledged alerts count, they are not resolved;
- "the day's alerts" are those open at some moment of the day: opened before its end and
  not resolved before its start. `by_severity`, `by_type` and the list (at most 50, most
  severe first, then oldest first) are over them;
- `suppressed`: the sum of `alerts.suppressed_count` over the day's alerts. The table keeps
  one lifetime count per alert, not a count per day, so this is exact for alerts that lived
  within the day only; for an alert spanning days it also holds the repeats swallowed on
  other days, up to when the digest was built.

Each alert's status and resolved_at are as of the day's end (a digest built days later says
what was true that night); its severity and counts are its current ones (the table keeps no
history of them). A day's digest is queued once: an alert raised after it was queued (a
late backfill of that day's SLA) shows in later digests as still open, never as opened.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from meta_agent.alerting.channels import channel_for
from meta_agent.alerting.notification import DigestAlert, DigestSnapshot, Notification
from meta_agent.alerting.outbox import Links
from meta_agent.db import Database

MAX_ALERTS = 50

# %(start)s, %(end)s: the day's bounds; an alert is "the day's" when open at some moment of
# it; o.opened_at is when it opened for the digest (the module docstring says why SLA alerts
# from the warehouse differ)
_DAYS_ALERTS = """
from alerts as a
cross join lateral (
    select coalesce(
        ((a.labels ->> 'sla_day')::date)::timestamp at time zone 'UTC', a.first_seen_at
    ) as opened_at
) as o
left join agents as g using (tenant_id, agent_id)
where a.tenant_id = %(tenant_id)s
  and o.opened_at < %(end)s
  and (a.resolved_at is null or a.resolved_at >= %(start)s)
"""

_COUNTS = f"""
select
    count(*) filter (where o.opened_at >= %(start)s) as opened,
    count(*) filter (where a.resolved_at < %(end)s) as resolved,
    count(*) filter (where a.resolved_at is null or a.resolved_at >= %(end)s) as still_open,
    coalesce(sum(a.suppressed_count), 0) as suppressed
{_DAYS_ALERTS}
"""

_BY = f"""
select 'severity' as facet, a.severity as value, count(*) as n {_DAYS_ALERTS} group by a.severity
union all
select 'type', a.alert_type, count(*) {_DAYS_ALERTS} group by a.alert_type
"""

_LIST = f"""
select
    a.alert_id, a.alert_type, a.severity, a.title, g.name as agent_name,
    a.occurrence_count, a.suppressed_count, a.first_seen_at,
    case when a.resolved_at < %(end)s then a.resolved_at end as resolved_at,
    case
        when a.resolved_at < %(end)s then 'resolved'
        when a.acknowledged_at < %(end)s then 'acknowledged'
        else 'open'
    end as status
{_DAYS_ALERTS}
order by
    case a.severity when 'emergency' then 3 when 'critical' then 2 when 'warning' then 1
        else 0 end desc,
    o.opened_at, a.alert_id
limit {MAX_ALERTS}
"""

# enabled channels that take the digest, by their own flag or a digest-mode rule
_DIGEST_CHANNELS = """
select c.notification_channel_id, c.kind, c.config
from notification_channels as c
where c.tenant_id = %(tenant_id)s
  and c.enabled
  and (
      c.supports_digest
      or exists (
          select 1 from alert_routing_rules as r
          where r.tenant_id = c.tenant_id
            and r.notification_channel_id = c.notification_channel_id
            and r.enabled
            and r.delivery_mode = 'digest'
      )
  )
order by c.created_at, c.notification_channel_id
"""

_QUEUE = """
insert into alert_deliveries (
    alert_delivery_id, tenant_id, alert_id, notification_channel_id, state_change, sequence,
    digest_date, payload, next_attempt_at
) values (%s, %s, null, %s, 'digest', 0, %s, %s, %s)
on conflict do nothing
"""


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the UTC day."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


async def build_digest(
    conn: AsyncConnection[dict[str, Any]], *, tenant_id: uuid.UUID, day: dt.date
) -> DigestSnapshot:
    """The tenant's alerts of the UTC `day` (see the module docstring for each count).

    `conn` must see the tenant's rows: a tenant transaction, or the owner role. Rows of
    other tenants are filtered out either way."""
    start, end = day_bounds(day)
    params = {"tenant_id": tenant_id, "start": start, "end": end}
    counts = await (await conn.execute(_COUNTS, params)).fetchone()
    assert counts is not None  # an aggregate always returns a row
    facets: dict[str, dict[str, int]] = {"severity": {}, "type": {}}
    for row in await (await conn.execute(_BY, params)).fetchall():
        facets[row["facet"]][row["value"]] = row["n"]
    alerts = [DigestAlert(**row) for row in await (await conn.execute(_LIST, params)).fetchall()]
    return DigestSnapshot(
        day=day,
        opened=counts["opened"],
        resolved=counts["resolved"],
        suppressed=counts["suppressed"],
        still_open=counts["still_open"],
        by_severity=facets["severity"],
        by_type=facets["type"],
        alerts=alerts,
    )


def digest_links(links: Links) -> dict[str, str]:
    """Where a digest points: the tenant's alert list and the Dagster UI."""
    found: dict[str, str] = {}
    if links.api_url:
        found["alerts"] = f"{links.api_url.rstrip('/')}/v1/alerts"
    if links.dagster_url:
        found["dagster"] = links.dagster_url
    return found


async def queue_digests(
    db: Database,
    *,
    tenant_id: uuid.UUID,
    day: dt.date,
    links: Links,
    at: dt.datetime | None = None,
) -> int:
    """Queue the tenant's digest of `day` for each of its digest channels; how many were
    queued. A (channel, day) digest is queued once: running a day again queues nothing, and
    the payload first queued is the one sent (a retry says what was true then).

    `at` is when the digest is made (default now): the notification's time and the
    delivery's first attempt."""
    at = at or dt.datetime.now(dt.UTC)
    queued = 0
    async with db.tenant_transaction(tenant_id) as conn:
        channels = await (await conn.execute(_DIGEST_CHANNELS, {"tenant_id": tenant_id})).fetchall()
        if not channels:
            return 0
        tenant = await (
            await conn.execute("select name from tenants where tenant_id = %s", (tenant_id,))
        ).fetchone()
        assert tenant is not None  # a tenant's channel implies the tenant
        digest = await build_digest(conn, tenant_id=tenant_id, day=day)
        for channel in channels:
            delivery_id = uuid.uuid4()
            notification = Notification(
                delivery_id=delivery_id,  # the payload's idempotency key is the row's id
                tenant_id=tenant_id,
                tenant_name=tenant["name"],
                state_change="digest",
                at=at,
                digest=digest,
                links=digest_links(links),
            )
            if not channel_for(channel["kind"]).wants(notification, channel["config"]):
                continue
            cursor = await conn.execute(
                _QUEUE,
                (
                    delivery_id,
                    tenant_id,
                    channel["notification_channel_id"],
                    day,
                    Jsonb(notification.model_dump(mode="json")),
                    at,
                ),
            )
            queued += cursor.rowcount
    return queued
