"""What a notification says, in plain text pieces each channel escapes for its own format
(Slack mrkdwn, HTML, ClickUp markdown), so the four channels tell the same story.

The numbers come from `alert.details`, whose keys the alert engine writes: "reason" (why it
fired), "metrics" with "five_minutes" / "one_hour" window numbers, "thresholds", "top_error",
and any other scalar worth showing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from meta_agent.alerting.notification import AlertSnapshot, DigestSnapshot, Notification

SEVERITY_EMOJI = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
    "emergency": ":fire:",
}
LINK_LABELS = {"alert": "Open alert", "agent_health": "Agent health", "dagster": "Dagster"}
_WINDOW_LABELS = {"five_minutes": "Last 5 min", "one_hour": "Last hour"}
# shown by their own lines, or noise to a person reading the alert
_DETAIL_KEYS_SHOWN_ELSEWHERE = {"reason", "metrics", "thresholds", "top_error"}


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def humanize(key: str) -> str:
    return key.replace("_", " ").capitalize()


def emoji(notification: Notification) -> str:
    if notification.state_change == "resolved":
        return ":white_check_mark:"
    if notification.state_change == "acknowledged":
        return ":eyes:"
    if notification.alert is None:
        return ":bar_chart:"
    return SEVERITY_EMOJI[notification.alert.severity]


def headline(notification: Notification) -> str:
    """One line: what happened to which alert."""
    alert, change = notification.alert, notification.state_change
    if alert is None:
        day = notification.digest.day.isoformat() if notification.digest else "today"
        return f"Alert digest for {notification.tenant_name}, {day}"
    level = alert.severity.upper()
    if change == "opened":
        return f"[{level}] {alert.title}"
    if change.startswith("escalated_"):
        return f"Escalated to {level}: {alert.title}"
    if change == "repeated":
        return f"Still firing [{level}]: {alert.title}"
    if change == "acknowledged":
        who = f" by {alert.acknowledged_by}" if alert.acknowledged_by else ""
        return f"Acknowledged{who}: {alert.title}"
    how = "recovered on its own" if alert.auto_resolved else f"by {alert.resolved_by or 'someone'}"
    return f"Resolved ({how}): {alert.title}"


def facts(alert: AlertSnapshot) -> list[tuple[str, str]]:
    """Label and value pairs: at most 10, Slack's field limit."""
    pairs = [
        ("Agent", alert.agent_name or (str(alert.agent_id) if alert.agent_id else "fleet")),
        ("Type", humanize(alert.alert_type)),
        ("Severity", alert.severity),
        ("Status", alert.status),
        ("First seen", when(alert.first_seen_at)),
        ("Occurrences", str(alert.occurrence_count)),
    ]
    if alert.last_seen_at != alert.first_seen_at:
        pairs.append(("Last seen", when(alert.last_seen_at)))
    if alert.acknowledged_at:
        by = f" by {alert.acknowledged_by}" if alert.acknowledged_by else ""
        pairs.append(("Acknowledged", when(alert.acknowledged_at) + by))
    if alert.resolved_at:
        pairs.append(("Resolved", when(alert.resolved_at)))
    return pairs[:10]


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def window_line(label: str, numbers: dict[str, Any]) -> str:
    """One window, e.g. "Last 5 min: 40 executions, 12 failed (30.0% errors), p95 2,300 ms,
    $0.42"."""
    parts = []
    if "executions" in numbers:
        parts.append(f"{_number(numbers['executions'])} executions")
    if "failures" in numbers:
        rate = numbers.get("error_rate")
        share = f" ({rate:.1%} errors)" if isinstance(rate, int | float) else ""
        parts.append(f"{_number(numbers['failures'])} failed{share}")
    if numbers.get("latency_p95_ms") is not None:
        parts.append(f"p95 {_number(numbers['latency_p95_ms'])} ms")
    if numbers.get("cost_usd"):
        parts.append(f"${numbers['cost_usd']:,.2f}")
    if not parts:
        parts = [f"{humanize(k).lower()} {_number(v)}" for k, v in numbers.items()][:6]
    return f"{label}: {', '.join(parts)}"


def cause_lines(alert: AlertSnapshot) -> list[str]:
    """What crossed which threshold, most telling first."""
    details, lines = alert.details, []
    if details.get("reason"):
        lines.append(str(details["reason"]))
    thresholds = details.get("thresholds")
    if isinstance(thresholds, dict) and thresholds:
        lines.append(
            "Thresholds: " + ", ".join(f"{humanize(k)} {_number(v)}" for k, v in thresholds.items())
        )
    metrics = details.get("metrics")
    if isinstance(metrics, dict):
        for key, label in _WINDOW_LABELS.items():
            if isinstance(metrics.get(key), dict):
                lines.append(window_line(label, metrics[key]))
        if metrics.get("consecutive_failures"):
            lines.append(f"Consecutive failures: {metrics['consecutive_failures']}")
    top = details.get("top_error")
    if isinstance(top, dict):
        kind, msg, count = (
            top.get("type") or top.get("error_type"),
            top.get("message"),
            top.get("count"),
        )
        text = ": ".join(str(x) for x in (kind, msg) if x) or str(top)
        lines.append(f"Top error: {text}" + (f" (×{count})" if count else ""))
    elif top:
        lines.append(f"Top error: {top}")
    for key, value in details.items():
        if key not in _DETAIL_KEYS_SHOWN_ELSEWHERE and isinstance(value, str | int | float):
            lines.append(f"{humanize(key)}: {_number(value)}")
    if not lines and alert.summary:
        lines.append(alert.summary)
    return lines[:15]


def suppressed_line(alert: AlertSnapshot) -> str | None:
    n = alert.suppressed_since_last
    if n <= 0:
        return None
    return f"{n} repeat{'s' if n != 1 else ''} suppressed since the last notification"


def digest_summary(digest: DigestSnapshot) -> str:
    return (
        f"{digest.opened} opened, {digest.resolved} resolved, {digest.still_open} still open,"
        f" {digest.suppressed} repeats suppressed"
    )


def digest_lines(digest: DigestSnapshot, limit: int = 50) -> list[str]:
    """One line per alert of the day, most severe first (the snapshot's order)."""
    return [
        f"[{a.severity.upper()}] {a.title}"
        + (f" ({a.agent_name})" if a.agent_name else "")
        + f": {a.status}, {a.occurrence_count}× since {when(a.first_seen_at)}"
        + (f", {a.suppressed_count} suppressed" if a.suppressed_count else "")
        for a in digest.alerts[:limit]
    ]


def link_label(key: str) -> str:
    return LINK_LABELS.get(key, humanize(key))
