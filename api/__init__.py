"""The FastAPI service: dashboards, ingest, OpenAPI docs, WebSocket (see the API issues)."""
