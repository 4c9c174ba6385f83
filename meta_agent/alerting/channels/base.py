"""What every channel shares: the result of one send, the config checks, and the rules that turn
an HTTP answer (or its absence) into "sent", "retry" or "permanent".

A channel makes exactly one request per `send` (ClickUp escalations and retried creations
excepted, see there) and never raises for HTTP or network trouble: the dispatcher owns
retries, backoff and dead-lettering, and it can only do that job with a classified result.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, cast

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from meta_agent.alerting.destinations import PrivateDestination
from meta_agent.alerting.notification import Notification
from meta_agent.alerting.severity import RANK
from meta_agent.models.alerting import AlertSeverity

SendOutcome = Literal["sent", "retry", "permanent"]
_MAX_ERROR_CHARS = 300
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class SendResult:
    """One attempt's outcome; `error` is short and never holds a secret."""

    outcome: SendOutcome
    status_code: int | None = None
    retry_after_s: float | None = None
    external_ref: str | None = None
    error: str | None = None


class ChannelConfigError(ValueError):
    """A channel config that cannot work; `problems` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Channel(Protocol):
    @property
    def kind(self) -> str:
        """The `notification_channels.kind` it serves."""
        ...

    def validate_config(
        self, config: dict[str, Any], *, has_secret: bool, server_secret: bool = False
    ) -> dict[str, Any]:
        """The normalized config, or `ChannelConfigError` listing every problem
        (`server_secret`: the secret is held in a server variable)."""
        ...

    def server_secret_problem(self, config: dict[str, Any]) -> str | None:
        """Why a secret held in a server variable may not go where `config` sends it."""
        ...

    def wants(self, notification: Notification, config: dict[str, Any]) -> bool:
        """Whether this channel sends this notification at all (e.g. a severity floor)."""
        ...

    async def send(
        self,
        notification: Notification,
        *,
        config: dict[str, Any],
        secret: str | None,
        http: httpx.AsyncClient,
    ) -> SendResult:
        """One request to the provider, classified; never raises for HTTP/network trouble."""
        ...


# the same guard as app.jsonb_contains_secret (migration 0004), so the API can name the
# problem before Postgres rejects the row with a constraint name
_SECRET_KEY = re.compile(
    r"(^|_)(secret|token|password|passwd|api_?key|authorization|credentials?|private_?key)(_|$)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"hooks\.slack\.com/services/|^xox[abeoprs]-|^sk-ant-|^pk_[0-9]+_[A-Za-z0-9]{16,}$|^bearer ",
    re.IGNORECASE,
)


def secret_shaped(doc: Any, path: str = "config") -> list[str]:
    """Where a config document holds something that looks like a secret (never the value)."""
    if isinstance(doc, dict):
        found = []
        for key, value in doc.items():
            if _SECRET_KEY.search(str(key)):
                found.append(f"{path}.{key}: secrets go in the channel's secret, not its config")
            else:
                found.extend(secret_shaped(value, f"{path}.{key}"))
        return found
    if isinstance(doc, list):
        return [p for i, item in enumerate(doc) for p in secret_shaped(item, f"{path}[{i}]")]
    if isinstance(doc, str) and _SECRET_VALUE.search(doc):
        return [f"{path}: looks like a secret; it belongs in the channel's secret"]
    return []


def parse_config(
    model: type[M], config: dict[str, Any], *, has_secret: bool, needs: str | None
) -> M:
    """The config as `model`, or `ChannelConfigError` with every problem at once."""
    problems = secret_shaped(config)
    if needs and not has_secret:
        problems.append(f"secret: required ({needs})")
    parsed = None
    try:
        parsed = model.model_validate(config)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in err["loc"]) or "config"
            problems.append(f"{where}: {err['msg']}")
    if problems or parsed is None:
        raise ChannelConfigError(problems)
    return parsed


class ChannelConfig(BaseModel):
    """Options every channel takes; unknown keys are errors (a typo must not go unnoticed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_severity: AlertSeverity = "info"


C = TypeVar("C", bound=ChannelConfig)


class ConfiguredChannel(Generic[C]):
    """What every channel does alike: check a config (every problem at once), filter by the
    config's `min_severity`, and read the stored config back when sending."""

    kind: ClassVar[str]
    config_model: ClassVar[type[ChannelConfig]]
    needs: ClassVar[str]  # what its secret is, for the "secret: required" problem
    default_floor: ClassVar[AlertSeverity] = "info"

    def validate_config(
        self, config: dict[str, Any], *, has_secret: bool, server_secret: bool = False
    ) -> dict[str, Any]:
        """The normalized config, or `ChannelConfigError` listing every problem
        (`server_secret`: the secret is held in a server variable)."""
        problems = []
        try:
            parsed = parse_config(
                self.config_model, config, has_secret=has_secret, needs=self.needs
            )
        except ChannelConfigError as exc:
            problems = exc.problems
        destination = self.server_secret_problem(config) if server_secret else None
        if destination:
            problems.append(destination)
        if problems:
            raise ChannelConfigError(problems)
        return parsed.model_dump(exclude_none=True)

    def server_secret_problem(self, config: dict[str, Any]) -> str | None:
        """Why a secret held in a server variable may not go where `config` sends it. A kind
        whose secret travels to a configurable `base_url` (SendGrid's key, ClickUp's token)
        sends such a secret only to its service's own URL: the variable is the operator's,
        and a tenant admin's config could otherwise point it at a server of their own."""
        field = self.config_model.model_fields.get("base_url")
        if field is None:
            return None
        own = str(field.default).rstrip("/")
        given = config.get("base_url", own)
        if not isinstance(given, str) or given.rstrip("/") != own:
            return (
                f"base_url: a secret held in a server variable goes only to {own}; give the"
                " channel its own `secret` to send to another URL"
            )
        return None

    def wants(self, notification: Notification, config: dict[str, Any]) -> bool:
        """Whether the alert reaches the channel's severity floor."""
        return meets_severity(notification, severity_floor(config, self.default_floor))

    async def send(
        self,
        notification: Notification,
        *,
        config: dict[str, Any],
        secret: str | None,
        http: httpx.AsyncClient,
    ) -> SendResult:
        """One request to the provider, classified; never raises for HTTP/network trouble.
        A missing secret or a stored config that no longer validates fails for good."""
        if not secret or not secret.strip():
            return SendResult("permanent", error=f"no secret ({self.needs})")
        try:
            parsed: C = self.config_model.model_validate(config)  # type: ignore[assignment]
        except ValueError:
            return SendResult("permanent", error=f"invalid {self.kind} config")
        return await self.deliver(notification, parsed, secret, http)

    async def deliver(
        self, notification: Notification, parsed: C, secret: str, http: httpx.AsyncClient
    ) -> SendResult:
        """The channel's own request, with a secret and a valid config in hand."""
        raise NotImplementedError


def http_url(value: str, *, field: str = "url") -> str:
    """`value` if it is an http(s) URL with a host and no credentials in it."""
    try:
        parsed = httpx.URL(value)
    except httpx.InvalidURL:
        raise ValueError(f"{field} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{field} must be an http:// or https:// URL")
    if parsed.userinfo:
        raise ValueError(f"{field} must not carry credentials; use the channel's secret")
    return value


def meets_severity(notification: Notification, floor: str) -> bool:
    """Whether the alert is at least `floor`; the digest covers every severity."""
    if notification.alert is None:
        return True
    ranks = cast(dict[str, int], RANK)  # a stored floor is any text; unknown ones rank lowest
    return ranks[notification.alert.severity] >= ranks.get(floor, 0)


def severity_floor(config: dict[str, Any], default: AlertSeverity = "info") -> str:
    """The config's `min_severity`, read without a full validation: routing must not fail on a
    config stored before a rule changed (an unknown value falls back to the default)."""
    floor = config.get("min_severity", default)
    return floor if floor in RANK else default


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def safe_error(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` fit for `last_error`: no secret, no URL (URLs carry tokens), short."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    text = _URL.sub("<url>", text)
    text = " ".join(text.split())
    return text[:_MAX_ERROR_CHARS]


def retry_after(headers: httpx.Headers, clock: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait: `Retry-After` (seconds or HTTP date), else `X-RateLimit-Reset` (epoch
    seconds, as SendGrid and ClickUp send it)."""
    value = headers.get("retry-after")
    if value is not None:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        when: dt.datetime | None
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return max(0.0, when.timestamp() - clock())
    reset = headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - clock())
        except ValueError:
            return None
    return None


# statuses worth another attempt although they are 4xx
RETRYABLE_4XX = frozenset({408, 425, 429})


def classify(
    response: httpx.Response,
    *,
    error: str,
    secrets: Iterable[str | None] = (),
    retryable_4xx: frozenset[int] = RETRYABLE_4XX,
    external_ref: str | None = None,
) -> SendResult:
    """The outcome of a provider's answer; `error` is the provider's own message, if any."""
    code = response.status_code
    if 200 <= code < 300:
        return SendResult("sent", code, external_ref=external_ref)
    message = safe_error(f"HTTP {code}: {error}" if error else f"HTTP {code}", secrets)
    if code >= 500 or code in retryable_4xx:
        return SendResult("retry", code, retry_after(response.headers), error=message)
    # 3xx included: redirects are not followed, a signed request must not wander off
    return SendResult("permanent", code, error=message)


async def request_once(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    secrets: Iterable[str | None] = (),
    **kwargs: Any,
) -> httpx.Response | SendResult:
    """The response, or the classified failure to get one."""
    secrets = tuple(secrets)
    try:
        # never follow: a redirect would carry the signature or the token to another host
        return await http.request(method, url, follow_redirects=False, **kwargs)
    except PrivateDestination as exc:  # the server's own network: refused for good
        return SendResult("permanent", error=safe_error(str(exc), secrets))
    except httpx.TimeoutException as exc:
        return SendResult("retry", error=safe_error(f"timeout ({type(exc).__name__})"))
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
        # our request cannot be sent as configured; repeating it changes nothing
        return SendResult("permanent", error=safe_error(f"{type(exc).__name__}: {exc}", secrets))
    except httpx.HTTPError as exc:
        return SendResult("retry", error=safe_error(f"{type(exc).__name__}: {exc}", secrets))


def body_excerpt(response: httpx.Response, limit: int = 200) -> str:
    """The start of a response body as text, for errors whose body is not structured."""
    try:
        return response.text[:limit].strip()
    except (UnicodeDecodeError, LookupError):
        return ""
