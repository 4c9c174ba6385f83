"""Silences: alerts whose labels contain every matcher are counted, not notified, for a while."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import Field, model_validator

from api.schemas.common import ReadModel, Text, Timestamp, WriteModel

LabelName = Annotated[Text, Field(min_length=1, max_length=100)]
LabelValue = Annotated[Text, Field(min_length=1, max_length=500)]
Matchers = Annotated[dict[LabelName, LabelValue], Field(min_length=1, max_length=20)]


class SilenceCreate(WriteModel):
    matchers: Matchers = Field(
        description="Label → value; an alert is silenced when its labels hold every one"
        " (labels: agent, agent_id, alert_type, source, and the detector's own).",
        examples=[{"agent": "writer", "alert_type": "latency_spike"}],
    )
    starts_at: Timestamp | None = Field(default=None, description="Default: now.")
    ends_at: Timestamp = Field(description="After `starts_at`.")
    comment: Text = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _forwards(self) -> SilenceCreate:
        start = self.starts_at or dt.datetime.now(dt.UTC)
        if self.ends_at <= start:
            raise ValueError("ends_at must be after starts_at (or now, when it is left out)")
        return self


class Silence(ReadModel):
    alert_silence_id: uuid.UUID
    matchers: dict[str, Any]
    starts_at: dt.datetime
    ends_at: dt.datetime
    active: bool = Field(description="In force now.")
    created_by: str
    comment: str
    created_at: dt.datetime
    updated_at: dt.datetime
