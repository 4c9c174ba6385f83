"""The dispatcher: sends queued deliveries through their channels, durably.

A round claims due deliveries (pending, or failed and due for another attempt) with a lease,
sends each once, and records the answer:
- sent → `sent`, with the provider's reference (a later state change of the alert on the
  same channel is handed it, so ClickUp updates the task it created);
- transient failure (5xx, 429, timeout) → `failed`, retried after exponential backoff with
  jitter, or exactly after the provider's Retry-After;
- permanent failure (most 4xx, a channel misconfigured or disabled, a secret that cannot be
  read), or the tenant's `max_attempts` used up → `dead_letter`, with the last error: the
  record of what was never delivered. Nothing is dropped without one.

Two dispatchers never send one delivery twice: a claim is an UPDATE of rows locked with
SKIP LOCKED that sets `claimed_until`, and the outcome is written only while that lease is
still the row's, so a dispatcher that stalled past its lease cannot overwrite the answer of
the one that took over. (A dispatcher that dies after the provider accepted a request and
before recording it will send again when its lease expires: receivers dedupe on the delivery
id, which every channel sends.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from meta_agent.alerting.channels import SendResult, channel_for
from meta_agent.alerting.destinations import refuse_private
from meta_agent.alerting.notification import Notification
from meta_agent.alerting.policy import load_policy
from meta_agent.alerting.secrets import resolve_secret
from meta_agent.db import Database
from meta_agent.settings import Settings

log = logging.getLogger(__name__)

# (secret_env_var, secret_ciphertext) → the secret; raises when it cannot be read
SecretReader = Callable[[str | None, bytes | None], str | None]


def secret_reader(settings: Settings) -> SecretReader:
    """Channel secrets read the way the server's settings say (env var or ciphertext)."""

    def read(env_var: str | None, ciphertext: bytes | None) -> str | None:
        return resolve_secret(env_var=env_var, ciphertext=ciphertext, settings=settings)

    return read


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DispatchReport:
    sent: int = 0
    retrying: int = 0
    dead_lettered: int = 0

    def __iadd__(self, other: DispatchReport) -> DispatchReport:
        self.sent += other.sent
        self.retrying += other.retrying
        self.dead_lettered += other.dead_lettered
        return self


_CLAIM = """
update alert_deliveries as d
set claimed_until = %(lease)s, attempts = d.attempts + 1
from notification_channels as c
where d.alert_delivery_id in (
    select n.alert_delivery_id from alert_deliveries as n
    where n.status in ('pending', 'failed')
      and coalesce(n.next_attempt_at, n.created_at) <= %(now)s
      and (n.claimed_until is null or n.claimed_until <= %(now)s)
      -- one alert's notifications reach a channel in order: "resolved" never overtakes
      -- "opened" (and finds the ClickUp task or message that one created)
      and not exists (
          select 1 from alert_deliveries as p
          where p.alert_id = n.alert_id
            and p.notification_channel_id = n.notification_channel_id
            and p.created_at < n.created_at
            and p.status in ('pending', 'failed')
      )
    order by coalesce(n.next_attempt_at, n.created_at)
    limit %(limit)s
    for update skip locked
)
and c.tenant_id = d.tenant_id and c.notification_channel_id = d.notification_channel_id
returning d.alert_delivery_id, d.alert_id, d.notification_channel_id, d.attempts, d.payload,
    c.kind, c.config, c.enabled, c.secret_env_var, c.secret_ciphertext,
    (select p.external_ref from alert_deliveries as p
     where p.alert_id = d.alert_id and p.notification_channel_id = d.notification_channel_id
       and p.status = 'sent' and p.external_ref is not null
     order by p.created_at limit 1) as previous_ref
"""

_RECORD = """
update alert_deliveries set
    status = %(status)s,
    sent_at = case when %(status)s = 'sent' then %(now)s end,
    next_attempt_at = %(next_attempt_at)s,
    last_error = %(error)s,
    response_code = %(code)s,
    external_ref = coalesce(%(ref)s, external_ref),
    claimed_until = null
where alert_delivery_id = %(id)s and claimed_until = %(lease)s
"""


class Dispatcher:
    def __init__(
        self,
        db: Database,
        *,
        read_secret: SecretReader,
        http: httpx.AsyncClient | None = None,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        # a claim is at most two waves of sends (each at most the client's 15 s timeouts),
        # well inside the lease: rows queued behind slow sends must not outlive theirs
        batch_size: int = 32,
        concurrency: int = 16,
        clock: Callable[[], dt.datetime] = utc_now,
        # whether channels may send to private addresses (`Settings.private_addresses_allowed`)
        private_addresses: bool = False,
    ) -> None:
        self.db = db
        self.read_secret = read_secret
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        if not private_addresses:
            hooks = self.http.event_hooks
            self.http.event_hooks = {**hooks, "request": [refuse_private, *hooks["request"]]}
        self.lease = lease
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.clock = clock

    async def aclose(self) -> None:
        await self.http.aclose()

    async def dispatch_due(
        self, now: dt.datetime | None = None, *, stop: asyncio.Event | None = None
    ) -> DispatchReport:
        """Send every delivery due at `now` (default: the clock), tenant by tenant; `stop`
        set ends the round after the claim in hand (a backlog must not hold up a shutdown)."""
        now = now or self.clock()
        async with self.db.transaction() as conn:
            cursor = await conn.execute("select app.tenants_with_due_deliveries(%s) as t", (now,))
            tenants = [r["t"] for r in await cursor.fetchall()]
        report = DispatchReport()
        # round robin, a claim per tenant per pass, until every tenant's claim comes back
        # empty: a tenant with a backlog (a channel down for hours) delays the others by one
        # claim, not by its whole backlog
        while tenants:
            busy = []
            for tenant_id in tenants:
                if stop is not None and stop.is_set():
                    return report
                try:
                    batch = await self._dispatch_tenant(tenant_id, now)
                except Exception:  # one tenant's trouble must not hold up the others
                    log.exception("deliveries of tenant %s not dispatched this round", tenant_id)
                    continue
                report += batch
                if batch.sent + batch.retrying + batch.dead_lettered:
                    busy.append(tenant_id)
            tenants = busy
        return report

    async def _dispatch_tenant(self, tenant_id: uuid.UUID, now: dt.datetime) -> DispatchReport:
        # the lease runs from the claim, not from the round's start (a long round would hand
        # out leases already over); `now` may be ahead of the clock (tests), never behind
        lease = max(now, self.clock()) + self.lease
        async with self.db.tenant_transaction(tenant_id) as conn:
            policy = await load_policy(conn, tenant_id)
            cursor = await conn.execute(
                _CLAIM, {"lease": lease, "now": now, "limit": self.batch_size}
            )
            claimed = await cursor.fetchall()
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(row: dict[str, Any]) -> tuple[dict[str, Any], SendResult]:
            async with semaphore:
                return row, await self._send(row)

        results = await asyncio.gather(*(one(r) for r in claimed))
        report = DispatchReport()
        async with self.db.tenant_transaction(tenant_id) as conn:
            for row, result in results:
                status, next_at = _next_step(
                    result, row["attempts"], now, policy.max_attempts, policy.max_backoff_s
                )
                code = result.status_code
                error = result.error
                if code is not None and not 100 <= code <= 599:  # what the column can hold
                    error, code = f"{error or 'answered'} (HTTP status {code})", None
                try:
                    async with conn.transaction():  # one outcome's failure is its own
                        cursor = await conn.execute(
                            _RECORD,
                            {
                                "id": row["alert_delivery_id"],
                                "lease": lease,
                                "status": status,
                                "now": self.clock() if status == "sent" else now,
                                "next_attempt_at": next_at,
                                "error": error,
                                "code": code,
                                "ref": result.external_ref,
                            },
                        )
                except Exception:
                    log.exception("outcome of delivery %s not recorded", row["alert_delivery_id"])
                    continue
                if cursor.rowcount == 0:  # our lease ran out and another dispatcher has it
                    log.warning("delivery %s: lease lost while sending", row["alert_delivery_id"])
                    continue
                if status == "sent":
                    report.sent += 1
                elif status == "failed":
                    report.retrying += 1
                else:
                    report.dead_lettered += 1
                    log.warning(
                        "delivery %s dead-lettered after %d attempts: %s",
                        row["alert_delivery_id"],
                        row["attempts"],
                        result.error,
                    )
        return report

    async def _send(self, row: dict[str, Any]) -> SendResult:
        if not row["enabled"]:
            return SendResult("permanent", error="channel disabled")
        try:
            channel = channel_for(row["kind"])
            # checked when the channel was saved too; a row from before that check, or written
            # around the API, must not send the operator's secret elsewhere either
            destination = row["secret_env_var"] and channel.server_secret_problem(row["config"])
            if destination:
                return SendResult("permanent", error=f"channel unusable: {destination}")
            secret = self.read_secret(row["secret_env_var"], row["secret_ciphertext"])
            notification = Notification.model_validate(
                {**row["payload"], "previous_ref": row["previous_ref"], "attempt": row["attempts"]}
            )
        except Exception as exc:  # a broken channel: record why, do not crash the round
            return SendResult("permanent", error=f"channel unusable: {type(exc).__name__}: {exc}")
        try:
            return await channel.send(
                notification, config=row["config"], secret=secret, http=self.http
            )
        except Exception as exc:  # a channel bug must not lose the delivery: retry it
            log.exception("channel %s raised", row["kind"])
            return SendResult("retry", error=f"{type(exc).__name__}")


def backoff_s(attempts: int, max_backoff_s: float, *, rng: random.Random | None = None) -> float:
    """Exponential backoff (1 s, 2 s, 4 s, ...) with jitter over its upper half, capped."""
    ceiling = min(max_backoff_s, 2.0 ** max(attempts - 1, 0))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


def _next_step(
    result: SendResult,
    attempts: int,
    now: dt.datetime,
    max_attempts: int,
    max_backoff_s: float,
) -> tuple[str, dt.datetime | None]:
    """The delivery's status after this attempt, and when to try again."""
    if result.outcome == "sent":
        return "sent", None
    if result.outcome == "permanent" or attempts >= max_attempts:
        return "dead_letter", None
    wait = (
        min(max(result.retry_after_s, 1.0), 3600.0)  # a Retry-After of 0 is not "at once"
        if result.retry_after_s is not None
        else backoff_s(attempts, max_backoff_s)
    )
    return "failed", now + dt.timedelta(seconds=wait)
