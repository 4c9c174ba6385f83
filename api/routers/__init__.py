"""One router per resource, all under /v1.

Ids in paths are matched as UUIDs by the route itself (`{agent_id:uuid}`), as OpenAPI reads
paths: `/v1/agents/graph` is never taken for an agent id (so PATCH there is a 405, not a 422),
and a path with a malformed id names nothing, so it is a 404 like an unknown id.
"""
