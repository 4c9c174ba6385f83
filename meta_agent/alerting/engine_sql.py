"""The alert engine's statements on `alerts` (see `engine.py`): opening a fingerprint's alert,
locking the unresolved one, counting a repeat, and reading a firing's context."""

OPEN = """
insert into alerts (
    tenant_id, agent_id, alert_type, severity, fingerprint, title, summary, labels, details,
    first_seen_at, last_seen_at, notified_at, suppressed_count, suppressed_since_notified
) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
on conflict (tenant_id, fingerprint) where status <> 'resolved' do nothing
returning alert_id
"""

STANDING = """
select alert_id, severity, status, notified_at, reminders, suppressed_since_notified
from alerts
where tenant_id = %s and fingerprint = %s and status <> 'resolved'
for update
"""

REPEAT = """
update alerts set
    severity = %(severity)s,
    title = %(title)s,
    summary = %(summary)s,
    -- the latest numbers, keeping the error found at the last notification
    details = jsonb_strip_nulls(jsonb_build_object('top_error', details -> 'top_error'))
        || %(details)s,
    occurrence_count = occurrence_count + 1,
    last_seen_at = greatest(last_seen_at, %(at)s),
    clear_since = null,
    suppressed_count = suppressed_count + %(suppressed)s,
    suppressed_since_notified = case when %(notified)s then 0
        else suppressed_since_notified + 1 end,
    notified_at = case when %(notified)s then %(at)s else notified_at end,
    reminders = greatest(reminders, %(sequence)s)
where alert_id = %(alert_id)s
"""

CONTEXT = """
select t.settings, g.name as agent, exists (
    select 1 from alert_silences
    where starts_at <= %(at)s and ends_at > %(at)s
      and (jsonb_strip_nulls(jsonb_build_object('agent', g.name)) || %(labels)s::jsonb) @> matchers
) as silenced
from tenants as t
left join agents as g on g.tenant_id = t.tenant_id and g.agent_id = %(agent_id)s
where t.tenant_id = %(tenant_id)s
"""
