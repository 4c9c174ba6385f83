"""Alerting: signals from the realtime worker, the burn-rate rules and the warehouse become
deduplicated alerts in Postgres; each state change of an alert is queued once per routed
channel (the `alert_deliveries` outbox) and sent by the dispatcher through Slack, SendGrid
e-mail, ClickUp or a signed webhook."""
