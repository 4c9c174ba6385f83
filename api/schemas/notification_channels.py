"""Notification channels as the API takes and shows them. A channel's secret goes in as plain
text (encrypted before it is stored) or as the name of a server variable; it never comes out:
responses say only whether there is one, and where it lives."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from api.schemas.common import JsonObject, Name, Omittable, ReadModel, Text, WriteModel
from meta_agent.models.alerting import ChannelKind

SECRET_ENV_VAR_PATTERN = r"^METAAGENT_SECRET_[A-Z0-9_]{1,100}$"  # noqa: S105 (a pattern)
Secret = Annotated[Text, Field(min_length=1, max_length=10_000)]
SecretEnvVar = Annotated[str, Field(pattern=SECRET_ENV_VAR_PATTERN, max_length=117)]
_MASTER_KEY = "METAAGENT_SECRET_KEY"


def _one_secret(body: Any, *names: str) -> None:
    given = [n for n in names if getattr(body, n, None) not in (None, False)]
    if len(given) > 1:
        raise ValueError(f"give at most one of {', '.join(names)}")
    if getattr(body, "secret_env_var", None) == _MASTER_KEY:
        raise ValueError(f"{_MASTER_KEY} encrypts channel secrets; it is not a channel's secret")


class ChannelCreate(WriteModel):
    kind: ChannelKind
    name: Name
    config: JsonObject = Field(
        default_factory=dict,
        description="The kind's settings (webhook: url, headers; slack: channel; email: to,"
        " from_email; clickup: list_id; every kind: min_severity). Never a secret.",
    )
    supports_digest: bool = False
    enabled: bool = True
    secret: Secret | None = Field(
        default=None,
        description="The channel's secret (webhook signing secret, Slack webhook URL, SendGrid"
        " key, ClickUp token), stored encrypted and never shown again.",
    )
    secret_env_var: SecretEnvVar | None = Field(
        default=None, description="Or: the server's environment variable holding it."
    )

    @model_validator(mode="after")
    def _check_secret(self) -> ChannelCreate:
        _one_secret(self, "secret", "secret_env_var")
        return self


class ChannelPatch(WriteModel):
    """What to change; a field left out stays as it is. At most one of `secret` (rotate to a
    new encrypted secret), `secret_env_var` and `remove_secret`."""

    name: Omittable[Name] = None
    config: Omittable[JsonObject] = Field(default=None, description="Replaces the config.")
    supports_digest: Omittable[bool] = None
    enabled: Omittable[bool] = None
    secret: Omittable[Secret] = None
    secret_env_var: Omittable[SecretEnvVar] = None
    remove_secret: bool = False

    @model_validator(mode="after")
    def _check_secret(self) -> ChannelPatch:
        _one_secret(self, "secret", "secret_env_var", "remove_secret")
        return self


class Channel(ReadModel):
    notification_channel_id: uuid.UUID
    kind: ChannelKind
    name: str
    config: dict[str, Any]
    supports_digest: bool
    enabled: bool
    has_secret: bool
    secret_source: Literal["env", "encrypted"] | None
    secret_env_var: str | None = Field(description="The variable's name, when that is the source.")
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
