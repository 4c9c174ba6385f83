"""Settings from `METAAGENT_*` environment variables, checked once at start-up.

An unset database or Redis URL means "use the embedded servers under `home`"; a set one points
at production and nothing else changes. A misspelt variable is an error, not a silent default:
`METAAGENT_DATABSE_URL` pointing nowhere would otherwise quietly start an embedded database.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from meta_agent.errors import SettingsError

ENV_PREFIX = "METAAGENT_"
# Notification channels name their secrets by environment variables with this prefix (see
# migration 0004), so any such variable is a channel's secret, not a misspelt setting.
CHANNEL_SECRET_PREFIX = "METAAGENT_SECRET_"  # noqa: S105 (a name prefix, not a secret)

# Variables the agent-side SDK reads: they share the prefix, so they are not unknown here.
SDK_VARIABLES = frozenset(
    {
        "METAAGENT_API_KEY",
        "METAAGENT_ENDPOINT",
        "METAAGENT_SPOOL_DIR",
        "METAAGENT_DISABLED",
        "METAAGENT_ENFORCE_CIRCUIT",
    }
)

_POSTGRES_SCHEMES = ("postgresql", "postgres")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


class Settings(BaseSettings):
    """Everything the server processes read from the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: SecretStr | None = Field(
        default=None, description="Owner role URL (migrations, batch). Unset: embedded server."
    )
    app_database_url: SecretStr | None = Field(
        default=None,
        description="URL of the meta_agent_app role (API, realtime). Unset: derived.",
    )
    app_database_password: SecretStr | None = Field(
        default=None, description="Password set on meta_agent_app by `migrate` in production."
    )
    redis_url: SecretStr | None = Field(default=None, description="Unset: embedded Redis.")
    home: Path = Field(default=Path(".meta_agent"), description="Data of the embedded servers.")
    # after `home`: the default factory reads the home already validated
    archive_dir: Path = Field(
        default_factory=lambda data: data["home"] / "archive",
        description="Parquet archive of raw logs past retention. Unset: <home>/archive.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    environment: Literal["development", "test", "production"] = "development"
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    db_pool_min_size: int = Field(default=1, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=1000)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Larger request bodies get 413."
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="The API's address as people reach it, for the links in alert"
        " notifications. Unset: http://<api_host>:<api_port>.",
    )
    dagster_url: str | None = Field(
        default="http://127.0.0.1:3000",
        pattern=r"^https?://[^\s]+$",
        description="The Dagster UI's address, linked from alert notifications.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key (or several, comma-separated, the first encrypting) that"
        " encrypts notification channel secrets. Unset: a key file <home>/secret.key outside"
        " production; required in production.",
    )
    channel_private_addresses: bool | None = Field(
        default=None,
        description="Whether alert channels may send to private, loopback and link-local"
        " addresses (a webhook on the server's own network). Unset: yes, except in production,"
        " where a tenant's webhook URL must not reach the server's neighbours.",
    )
    health_stale_after_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="Agent health evaluated longer ago than this reads as unknown (stale): the"
        " realtime worker rewrites it every 10 s, so an older row means it or Redis is down.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url", "app_database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in _POSTGRES_SCHEMES:
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in _REDIS_SCHEMES:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            keys = [k.strip() for k in value.get_secret_value().split(",")]
            try:
                for key in keys:
                    Fernet(key)
            except ValueError:
                # never the value itself: it is the key to every channel secret
                raise ValueError(
                    "must be one or more comma-separated Fernet keys"
                    " (32 url-safe base64-encoded bytes each)"
                ) from None
        return value

    @field_validator("home", "archive_dir")
    @classmethod
    def _absolute_path(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def private_addresses_allowed(self) -> bool:
        """Whether alert channels may send to private addresses (`channel_private_addresses`)."""
        if self.channel_private_addresses is not None:
            return self.channel_private_addresses
        return self.environment != "production"

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis_url is None


def _unknown_variables(environ: dict[str, str]) -> list[str]:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | SDK_VARIABLES
    return sorted(
        k
        for k in environ
        if k.startswith(ENV_PREFIX) and k not in known and not k.startswith(CHANNEL_SECRET_PREFIX)
    )


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and check the settings; raise `SettingsError` naming the first bad variable."""
    env = dict(os.environ if environ is None else environ)
    unknown = _unknown_variables(env)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]} (check its spelling)")
    values = {
        name: env[ENV_PREFIX + name.upper()]
        for name in Settings.model_fields
        if ENV_PREFIX + name.upper() in env
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise SettingsError(f"invalid {ENV_PREFIX}{field.upper()}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()
