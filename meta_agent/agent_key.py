"""One agent of one tenant: the key of its windows, its health and its circuit breaker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class AgentKey:
    tenant_id: uuid.UUID
    agent_id: uuid.UUID
