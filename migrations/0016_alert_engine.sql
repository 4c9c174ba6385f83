-- The alert engine (meta_agent/alerting): what deduplication, auto-resolution, reminders, the
-- delivery outbox and the daily digest need beyond the tables of 0004.

-- Deduplication and auto-resolution state of an alert:
--  * notified_at: when its last notification was queued; a repeat within the tenant's dedup
--    window of it is suppressed (counted, not sent), a repeat after it sends a reminder;
--  * suppressed_since_notified: the repeats the next notification will report;
--  * reminders: how many reminders were queued, the sequence of the next one;
--  * clear_since: its condition cleared at that moment; it resolves itself once the condition
--    has stayed clear for the tenant's resolve_after, and a repeat before that cancels it, so
--    a flapping agent keeps one alert instead of opening and resolving one per flap.
alter table alerts
add column notified_at timestamptz,
add column suppressed_since_notified integer not null default 0
check (suppressed_since_notified >= 0),
add column reminders integer not null default 0 check (reminders >= 0),
add column clear_since timestamptz,
add column seconds_to_acknowledge double precision
generated always as (extract(epoch from acknowledged_at - first_seen_at)) stored,
add column seconds_to_resolve double precision
generated always as (extract(epoch from resolved_at - first_seen_at)) stored,
add constraint alerts_clear_only_while_unresolved check (clear_since is null or status <> 'resolved');

-- The auto-resolver's walk: unresolved alerts whose condition cleared.
create index alerts_clear_since_idx on alerts (tenant_id, clear_since)
where clear_since is not null and status <> 'resolved';

-- The outbox. A delivery is one (alert, channel, state change, sequence): reminders of one alert
-- are `repeated` with sequence 1, 2, ...; the daily digest is a delivery without an alert,
-- unique per (tenant, channel, day). `payload` is the notification as it was at the state
-- change (meta_agent.alerting.notification.Notification), so a retry says what was true then.
-- A sender claims a row by setting claimed_until (a lease): a second dispatcher skips claimed
-- rows, and a dispatcher that died mid-send frees its rows when the lease runs out.
alter table alert_deliveries
drop constraint alert_deliveries_alert_id_notification_channel_id_state_cha_key,
drop constraint alert_deliveries_state_change_check,
alter column alert_id drop not null,
add column sequence integer not null default 0 check (sequence >= 0),
add column digest_date date,
add column payload jsonb not null default '{}'::jsonb check (jsonb_typeof(payload) = 'object'),
add column claimed_until timestamptz,
add constraint alert_deliveries_state_change_check check (
    state_change in (
        'opened', 'escalated_warning', 'escalated_critical', 'escalated_emergency',
        'repeated', 'acknowledged', 'resolved', 'digest'
    )
),
add constraint alert_deliveries_digest_shape check (
    (state_change = 'digest') = (alert_id is null)
    and (state_change = 'digest') = (digest_date is not null)
),
add constraint alert_deliveries_once_key unique (
    alert_id, notification_channel_id, state_change, sequence
);
create unique index alert_deliveries_digest_once_key
on alert_deliveries (tenant_id, notification_channel_id, digest_date)
where state_change = 'digest';

-- The dispatcher connects as meta_agent_app, which RLS confines to one tenant per transaction:
-- this tells it which tenants have deliveries due, and nothing else.
create function app.tenants_with_due_deliveries(at timestamptz) returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select distinct d.tenant_id
    from public.alert_deliveries as d
    where d.status in ('pending', 'failed')
      and coalesce(d.next_attempt_at, d.created_at) <= at
      and (d.claimed_until is null or d.claimed_until <= at)
$$;
revoke all on function app.tenants_with_due_deliveries(timestamptz) from public;
grant execute on function app.tenants_with_due_deliveries(timestamptz) to meta_agent_app;

-- Likewise for the auto-resolver: tenants with an alert whose condition cleared by `before`.
create function app.tenants_with_cleared_alerts(before timestamptz) returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select distinct a.tenant_id
    from public.alerts as a
    where a.clear_since is not null and a.status <> 'resolved' and a.clear_since <= before
$$;
revoke all on function app.tenants_with_cleared_alerts(timestamptz) from public;
grant execute on function app.tenants_with_cleared_alerts(timestamptz) to meta_agent_app;

-- METAAGENT_SECRET_KEY encrypts every stored secret: it matches the secret variable pattern,
-- but no channel, integration or webhook may name it (it would be sent out as theirs).
alter table notification_channels
add constraint notification_channels_not_the_master_key
check (secret_env_var <> 'METAAGENT_SECRET_KEY');
alter table integrations
add constraint integrations_not_the_master_key check (secret_env_var <> 'METAAGENT_SECRET_KEY');
alter table webhook_subscriptions
add constraint webhook_subscriptions_not_the_master_key
check (signing_secret_env_var <> 'METAAGENT_SECRET_KEY');

-- The budget detector's walk, for the same reason as the functions above.
create function app.tenants_with_cost_budgets() returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
    select distinct b.tenant_id from public.cost_budgets as b where b.enabled
$$;
revoke all on function app.tenants_with_cost_budgets() from public;
grant execute on function app.tenants_with_cost_budgets() to meta_agent_app;
