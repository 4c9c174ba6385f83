"""Where the database and Redis are: the configured URLs, or the embedded servers' ones.

Every command asks here. With a URL unset, the embedded server of the home is started (or
reused); with a URL set, nothing is started and the server is only checked to answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import redis

from meta_agent.embedded import APP_ROLE, EmbeddedServers
from meta_agent.errors import ServerUnavailableError
from meta_agent.settings import Settings


@dataclass(frozen=True)
class ServerUrls:
    """Connection URLs; they may carry passwords, so they are never logged whole."""

    database_url: str
    app_database_url: str
    redis_url: str


def describe(url: str) -> str:
    """A URL without user and password, fit for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{host}{port}", parts.path, parts.query, ""))


def derive_app_url(owner_url: str, password: str | None) -> str:
    """The owner URL with the user swapped for the app role (and its own password)."""
    parts = urlsplit(owner_url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = APP_ROLE
    if password:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def resolve_urls(settings: Settings, *, need_redis: bool = True) -> ServerUrls:
    """URLs for this process, starting embedded servers for whichever URL is unset.

    Configured servers are checked first, so a production URL that does not answer fails
    the command before anything embedded is started.
    """
    timeout = settings.connect_timeout_s
    if settings.database_url is not None:
        check_database(settings.database_url.get_secret_value(), timeout)
    if need_redis and settings.redis_url is not None:
        check_redis(settings.redis_url.get_secret_value(), timeout)
    embedded = EmbeddedServers(settings.home)
    wants_pg = settings.database_url is None
    wants_redis = need_redis and settings.redis_url is None
    if wants_pg or wants_redis:
        embedded.up(postgres=wants_pg, redis=wants_redis)

    if settings.database_url is None:
        database_url = embedded.postgres.url()
        app_url = embedded.postgres.url(APP_ROLE)
    else:
        database_url = settings.database_url.get_secret_value()
        password = settings.app_database_password
        app_url = (
            settings.app_database_url.get_secret_value()
            if settings.app_database_url is not None
            else derive_app_url(database_url, password.get_secret_value() if password else None)
        )
    redis_url = (
        settings.redis_url.get_secret_value() if settings.redis_url else embedded.redis.url()
    )
    return ServerUrls(database_url, app_url, redis_url)


def check_database(url: str, timeout_s: float) -> None:
    """Raise a one-line `ServerUnavailableError` if the database does not answer."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout_s))) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServerUnavailableError(
            f"database at {describe(url)} does not answer: {reason}"
        ) from None


def check_redis(url: str, timeout_s: float) -> None:
    """Raise a one-line `ServerUnavailableError` if Redis does not answer."""
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        with client:
            client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ServerUnavailableError(f"Redis at {describe(url)} does not answer: {exc}") from None
