"""Alert routing rules: which channel hears of which alerts, walked in ascending priority."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, get_args

from pydantic import Field

from api.schemas.common import JSON_INTEGER, Omittable, ReadModel, Text, WriteModel
from meta_agent.models.alerting import AlertSeverity, AlertType, DeliveryMode

RuleName = Annotated[Text, Field(max_length=200)]
Priority = Annotated[int, Field(ge=0, le=2_147_483_647), JSON_INTEGER]
Severities = Annotated[list[AlertSeverity], Field(min_length=1, max_length=4)]
AlertTypes = Annotated[list[AlertType], Field(min_length=1, max_length=10)]


class AlertRouteCreate(WriteModel):
    notification_channel_id: uuid.UUID
    name: RuleName = ""
    agent_id: uuid.UUID | None = Field(default=None, description="Null: every agent.")
    severities: Severities = Field(default_factory=lambda: list(get_args(AlertSeverity)))
    alert_types: AlertTypes | None = Field(default=None, description="Null: every type.")
    delivery_mode: DeliveryMode = Field(
        default="immediate", description="`digest`: only in the channel's daily digest."
    )
    priority: Priority = Field(default=100, description="Lower first.")
    stop_after_match: bool = Field(default=False, description="A match ends the walk.")
    enabled: bool = True


class AlertRoutePatch(WriteModel):
    """What to change; a field left out stays. `agent_id` and `alert_types` may be null."""

    notification_channel_id: Omittable[uuid.UUID] = None
    name: Omittable[RuleName] = None
    agent_id: uuid.UUID | None = None
    severities: Omittable[Severities] = None
    alert_types: AlertTypes | None = None
    delivery_mode: Omittable[DeliveryMode] = None
    priority: Omittable[Priority] = None
    stop_after_match: Omittable[bool] = None
    enabled: Omittable[bool] = None


class AlertRoute(ReadModel):
    alert_routing_rule_id: uuid.UUID
    notification_channel_id: uuid.UUID
    name: str
    agent_id: uuid.UUID | None
    severities: list[AlertSeverity]
    alert_types: list[AlertType] | None
    delivery_mode: DeliveryMode
    priority: int
    stop_after_match: bool
    enabled: bool
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
