"""Tenants and their API keys.

A key is `ma_<prefix>_<secret>`: shown once, stored only as its SHA-256. A fast hash is right
here (unlike for passwords) because the secret is 32 random bytes: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from meta_agent.errors import MetaAgentError

SCOPES = ("ingest", "read", "write", "admin")
_KEY_PREFIX = "ma_"


@dataclass(frozen=True)
class IssuedKey:
    api_key_id: uuid.UUID
    tenant_id: uuid.UUID
    key: str
    prefix: str
    scopes: tuple[str, ...]


def hash_key(key: str) -> bytes:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).digest()


def new_key() -> tuple[str, str]:
    """A fresh key and its display prefix."""
    prefix = secrets.token_hex(4)
    return f"{_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", f"{_KEY_PREFIX}{prefix}"


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise MetaAgentError(
            f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}"
        )
    return chosen


def create_tenant(conn: psycopg.Connection, name: str) -> uuid.UUID:
    """Create a tenant (owner connection); an existing name is an error, not a second tenant."""
    row = conn.execute(
        "insert into tenants (name) values (%s) on conflict (name) do nothing returning tenant_id",
        (name,),
    ).fetchone()
    if row is None:
        raise MetaAgentError(f"a tenant named {name!r} already exists")
    return uuid.UUID(str(row[0]))


def find_tenant(conn: psycopg.Connection[Any], name_or_id: str) -> uuid.UUID:
    # tuple rows whatever the connection's row factory, so every caller can use it
    row = (
        conn.cursor(row_factory=tuple_row)
        .execute(
            "select tenant_id from tenants where name = %s or tenant_id::text = %s",
            (name_or_id, name_or_id),
        )
        .fetchone()
    )
    if row is None:
        raise MetaAgentError(f"no tenant named {name_or_id!r}")
    return uuid.UUID(str(row[0]))


def create_api_key(
    conn: psycopg.Connection,
    tenant_id: uuid.UUID,
    *,
    scopes: Iterable[str],
    name: str = "default",
    created_by: str | None = None,
) -> IssuedKey:
    """Issue a key for `tenant_id`; the returned key is the only copy there will ever be."""
    chosen = check_scopes(scopes)
    key, prefix = new_key()
    row = conn.execute(
        "insert into api_keys (tenant_id, name, prefix, key_hash, scopes, created_by)"
        " values (%s, %s, %s, %s, %s, %s) returning api_key_id",
        (tenant_id, name, prefix, hash_key(key), list(chosen), created_by),
    ).fetchone()
    assert row is not None
    return IssuedKey(uuid.UUID(str(row[0])), tenant_id, key, prefix, chosen)
