"""/v1/notification-channels: where alerts go. Reading takes `read`; creating and changing a
channel takes `admin`, as API keys do, because a channel holds a credential and decides where
the tenant's alert data is sent.

A config is checked by its kind's channel (every problem listed at once) and must hold no
secret; the secret is encrypted before it is stored, or named by a `METAAGENT_SECRET_*`
variable of the server, and no response ever carries it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from fastapi import APIRouter, Request

from api.deps import AdminSession, ReadSession, actor_name
from api.errors import ApiError
from api.queries import notification_channels as queries
from api.schemas.notification_channels import Channel, ChannelCreate, ChannelPatch
from meta_agent.alerting.channels import ChannelConfigError, channel_for
from meta_agent.alerting.secrets import SecretError, encrypt_secret

router = APIRouter(prefix="/notification-channels", tags=["notification channels"])

_CHANNEL = "/{notification_channel_id:uuid}"
_NO_SECRET_IN_CONFIG = "notification_channels_config_has_no_secret"  # noqa: S105 (a name)


def _checked_config(
    kind: str, config: dict[str, Any], *, has_secret: bool, server_secret: bool
) -> dict[str, Any]:
    """The config as the kind's channel normalizes it; a 422 listing every problem
    (`server_secret`: the secret is held in a server variable)."""
    try:
        return channel_for(kind).validate_config(
            config, has_secret=has_secret, server_secret=server_secret
        )
    except ChannelConfigError as exc:
        details = [
            {"location": ["body", "config"], "message": problem, "type": "value_error"}
            for problem in exc.problems
        ]
        raise ApiError(
            422, f"the {kind} channel's config is not valid: {exc}", details=details
        ) from None


def _encrypted(request: Request, secret: str) -> bytes:
    try:
        return encrypt_secret(secret, request.app.state.settings)
    except SecretError as exc:  # the server has no key to encrypt with
        raise ApiError(503, str(exc), code="unavailable") from None


@contextlib.contextmanager
def _secret_guard() -> Iterator[None]:
    """The database's own secret check, should a config pass ours: a 422 that says so."""
    try:
        yield
    except psycopg.errors.CheckViolation as exc:
        if exc.diag.constraint_name != _NO_SECRET_IN_CONFIG:
            raise
        detail = {"location": ["body", "config"], "message": "looks like a secret",
                  "type": "value_error"}  # fmt: skip
        raise ApiError(
            422,
            "the config holds something shaped like a secret; put it in `secret`",
            details=[detail],
        ) from None


@router.get("", response_model=list[Channel], summary="List the tenant's notification channels")
async def list_channels(session: ReadSession) -> list[Channel]:
    return [Channel.model_validate(r) for r in await queries.list_channels(session.conn)]


@router.post("", status_code=201, response_model=Channel, summary="Add a notification channel")
async def create_channel(request: Request, body: ChannelCreate, session: AdminSession) -> Channel:
    has_secret = body.secret is not None or body.secret_env_var is not None
    config = _checked_config(
        body.kind, body.config, has_secret=has_secret, server_secret=body.secret_env_var is not None
    )
    ciphertext = _encrypted(request, body.secret) if body.secret is not None else None
    values = {**body.model_dump(exclude={"secret", "secret_env_var"}), "config": config}
    with _secret_guard():
        row = await queries.insert_channel(
            session.conn,
            tenant_id=session.tenant_id,
            values=values,
            secret_env_var=body.secret_env_var,
            secret_ciphertext=ciphertext,
            created_by=await actor_name(session),
        )
    return Channel.model_validate(row)


@router.get(_CHANNEL, response_model=Channel, summary="One notification channel")
async def get_channel(notification_channel_id: uuid.UUID, session: ReadSession) -> Channel:
    row = await queries.get_channel(session.conn, channel_id=notification_channel_id)
    return Channel.model_validate(row)


@router.patch(
    _CHANNEL,
    response_model=Channel,
    summary="Change a channel: name, config, digests, enabled (disable instead of deleting);"
    " rotate or remove its secret",
)
async def patch_channel(
    request: Request, notification_channel_id: uuid.UUID, body: ChannelPatch, session: AdminSession
) -> Channel:
    current = await queries.get_channel(session.conn, channel_id=notification_channel_id, lock=True)
    changes: dict[str, Any] = body.model_dump(
        exclude_unset=True, exclude={"secret", "secret_env_var", "remove_secret"}
    )
    has_secret = current["has_secret"]
    server_secret = current["secret_env_var"] is not None
    if body.secret is not None:
        changes |= {"secret_ciphertext": _encrypted(request, body.secret), "secret_env_var": None}
        has_secret, server_secret = True, False
    elif body.secret_env_var is not None:
        changes |= {"secret_env_var": body.secret_env_var, "secret_ciphertext": None}
        has_secret, server_secret = True, True
    elif body.remove_secret:
        changes |= {"secret_env_var": None, "secret_ciphertext": None}
        has_secret, server_secret = False, False
    if "config" in changes or "secret_env_var" in changes or has_secret != current["has_secret"]:
        config = changes.get("config", current["config"])
        changes["config"] = _checked_config(
            current["kind"], config, has_secret=has_secret, server_secret=server_secret
        )
    if not changes:
        return Channel.model_validate(current)
    with _secret_guard():
        row = await queries.update_channel(
            session.conn, channel_id=notification_channel_id, changes=changes
        )
    return Channel.model_validate(row)
