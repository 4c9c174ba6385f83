"""Settings: constructor arguments, then `METAAGENT_*` environment variables, then defaults.

The SDK reads exactly five variables: METAAGENT_API_KEY, METAAGENT_ENDPOINT,
METAAGENT_SPOOL_DIR, METAAGENT_DISABLED and METAAGENT_ENFORCE_CIRCUIT. The server treats any
other METAAGENT_ name as a misspelling, so everything else is a constructor argument only.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from meta_agent_sdk._spool import FSYNC_POLICIES

DEFAULT_ENDPOINT = "http://127.0.0.1:8000"
INGEST_PATH = "/v1/ingest"
MAX_BATCH_ITEMS = 5000  # the server's limit per request
MAX_CONCURRENT_REQUESTS = 8
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Settings:
    """Everything the logger and its worker need, checked once."""

    agent: str
    api_key: str | None
    ingest_url: str
    spool_dir: Path
    disabled: bool
    enforce_circuit: bool
    batch_max_items: int
    batch_max_bytes: int
    flush_interval_s: float
    max_buffer_items: int
    spool_max_bytes: int
    spool_fsync: str
    request_timeout_s: float
    max_concurrent_requests: int
    backoff_base_s: float
    backoff_max_s: float
    atexit_timeout_s: float

    @property
    def spool_path(self) -> Path:
        """This endpoint and key's own spool directory: batches replay with their own key."""
        digest = hashlib.sha256(f"{self.ingest_url}\n{self.api_key or ''}".encode()).hexdigest()
        return self.spool_dir / digest[:16]

    @property
    def base_url(self) -> str:
        """The endpoint without /v1/ingest: where /v1/circuits is."""
        return self.ingest_url[: -len(INGEST_PATH)]


def default_spool_dir() -> Path:
    """The per-user cache directory (XDG on Unix, LOCALAPPDATA on Windows), else temp."""
    base = os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None
    base = base or os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except (KeyError, RuntimeError):  # no home directory
        root = Path(tempfile.gettempdir())
    return root / "metaagent" / "spool"


def ingest_url(endpoint: str) -> str:
    """The full ingest URL from a base endpoint (an URL already ending in /v1/ingest is kept)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint must be an http(s) URL with a host, got {endpoint!r}")
    url = endpoint.rstrip("/")
    return url if url.endswith(INGEST_PATH) else url + INGEST_PATH


def parse_bool(value: str, name: str) -> bool:
    """A boolean environment value; anything unrecognised is an error naming the variable."""
    norm = value.strip().lower()
    if norm in _TRUE:
        return True
    if norm in _FALSE:
        return False
    raise ValueError(f"invalid {name}={value!r}: use 1/0, true/false, yes/no or on/off")


def _positive(name: str, value: float, low: float = 0.0, high: float = float("inf")) -> None:
    if not (low < value <= high):
        raise ValueError(f"{name} must be in ({low}, {high}], got {value!r}")


def resolve(
    agent: str,
    *,
    api_key: str | None,
    endpoint: str | None,
    spool_dir: str | os.PathLike[str] | None,
    disabled: bool | None,
    enforce_circuit: bool | None,
    environ: Mapping[str, str],
    batch_max_items: int,
    batch_max_bytes: int,
    flush_interval_s: float,
    max_buffer_items: int,
    spool_max_bytes: int,
    spool_fsync: str,
    request_timeout_s: float,
    max_concurrent_requests: int,
    backoff_base_s: float,
    backoff_max_s: float,
    atexit_timeout_s: float,
) -> Settings:
    """Check and merge the arguments with the environment."""
    if not isinstance(agent, str) or not 1 <= len(agent.strip()) <= 200:
        raise ValueError("agent must be a name of 1 to 200 characters")
    if api_key is None:
        api_key = environ.get("METAAGENT_API_KEY") or None
    if endpoint is None:
        endpoint = environ.get("METAAGENT_ENDPOINT") or DEFAULT_ENDPOINT
    if spool_dir is None:
        env_dir = environ.get("METAAGENT_SPOOL_DIR")
        spool_path = Path(env_dir) if env_dir else default_spool_dir()
    else:
        spool_path = Path(spool_dir)
    if disabled is None:
        disabled = parse_bool(environ.get("METAAGENT_DISABLED", ""), "METAAGENT_DISABLED")
    if enforce_circuit is None:
        value = environ.get("METAAGENT_ENFORCE_CIRCUIT", "").strip()
        enforce_circuit = parse_bool(value, "METAAGENT_ENFORCE_CIRCUIT") if value else True
    if not 1 <= batch_max_items <= MAX_BATCH_ITEMS:
        raise ValueError(f"batch_max_items must be 1..{MAX_BATCH_ITEMS}")
    _positive("batch_max_bytes", batch_max_bytes, 1024)
    _positive("flush_interval_s", flush_interval_s, 0.0, 3600.0)
    _positive("max_buffer_items", max_buffer_items)
    _positive("spool_max_bytes", spool_max_bytes, -1.0)
    _positive("request_timeout_s", request_timeout_s, 0.0, 600.0)
    if not 1 <= max_concurrent_requests <= MAX_CONCURRENT_REQUESTS:
        raise ValueError(f"max_concurrent_requests must be 1..{MAX_CONCURRENT_REQUESTS}")
    _positive("backoff_base_s", backoff_base_s)
    _positive("backoff_max_s", backoff_max_s)
    _positive("atexit_timeout_s", atexit_timeout_s, -1.0)
    if spool_fsync not in FSYNC_POLICIES:
        raise ValueError(f"spool_fsync must be one of {FSYNC_POLICIES}")
    return Settings(
        agent=agent.strip(),
        api_key=api_key,
        ingest_url=ingest_url(endpoint),
        spool_dir=spool_path,
        disabled=bool(disabled),
        enforce_circuit=bool(enforce_circuit),
        batch_max_items=int(batch_max_items),
        batch_max_bytes=int(batch_max_bytes),
        flush_interval_s=float(flush_interval_s),
        max_buffer_items=int(max_buffer_items),
        spool_max_bytes=int(spool_max_bytes),
        spool_fsync=spool_fsync,
        request_timeout_s=float(request_timeout_s),
        max_concurrent_requests=int(max_concurrent_requests),
        backoff_base_s=float(backoff_base_s),
        backoff_max_s=float(backoff_max_s),
        atexit_timeout_s=float(atexit_timeout_s),
    )
