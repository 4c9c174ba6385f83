"""The ingest path: validate a batch item by item, store it idempotently, announce it."""
