"""The alerting domain: SLA alerts from the day's compliance mart, and the daily digest."""
