"""Channel secrets (Slack webhook URLs, SendGrid keys, ClickUp tokens, webhook signing secrets):
encrypted with Fernet before they reach `notification_channels.secret_ciphertext`, or named by
an environment variable `METAAGENT_SECRET_*` that only the server can read.

The key comes from `METAAGENT_SECRET_KEY`. Several comma-separated keys rotate it: the first
encrypts, every one decrypts, so old ciphertext stays readable until it is re-encrypted. Outside
production, with no key set, a key file `<home>/secret.key` (mode 0600) is made on first use, so
`make demo` needs no setup; production refuses to start sending without a real key, because a
key file on a container's disk would be lost with the container and every secret with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from meta_agent.errors import MetaAgentError
from meta_agent.settings import Settings

SECRET_ENV_VAR = re.compile(r"^METAAGENT_SECRET_[A-Z0-9_]{1,100}$")
KEY_FILE_NAME = "secret.key"
# matches the prefix but holds the key to every channel secret: never sent anywhere
_MASTER_KEY_VARIABLE = "METAAGENT_SECRET_KEY"


class SecretError(MetaAgentError):
    """A channel secret cannot be read: a bad or missing variable, or undecryptable ciphertext."""


class SecretKeyMissing(SecretError):
    """Production has no `METAAGENT_SECRET_KEY`, so channel secrets cannot be encrypted."""


def _key_file(settings: Settings) -> Path:
    return settings.home / KEY_FILE_NAME


def _load_or_create_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: two processes starting together must not each write a different key; the loser
    # reads the winner's. 0600 from the first byte, not chmod after the fact.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
    return key


def _cipher(settings: Settings) -> MultiFernet:
    if settings.secret_key is not None:
        keys = [k.strip() for k in settings.secret_key.get_secret_value().split(",") if k.strip()]
        return MultiFernet([Fernet(k) for k in keys])
    if settings.environment == "production":
        raise SecretKeyMissing(
            "METAAGENT_SECRET_KEY is not set: production needs a Fernet key to encrypt"
            " notification channel secrets (make one with"
            ' `python -c "from cryptography.fernet import Fernet;'
            ' print(Fernet.generate_key().decode())"`)'
        )
    return MultiFernet([Fernet(_load_or_create_key_file(_key_file(settings)))])


def encrypt_secret(plain: str, settings: Settings) -> bytes:
    """Ciphertext for `notification_channels.secret_ciphertext`, under the first key."""
    if not plain:
        raise SecretError("a channel secret cannot be empty")
    return _cipher(settings).encrypt(plain.encode())


def decrypt_secret(ciphertext: bytes, settings: Settings) -> str:
    """The plain secret; `SecretError` when no configured key opens it (rotated away?)."""
    try:
        return _cipher(settings).decrypt(ciphertext).decode()
    except InvalidToken:
        raise SecretError(
            "a channel secret cannot be decrypted with the configured METAAGENT_SECRET_KEY"
            " (was the key rotated without keeping the old one?)"
        ) from None


def resolve_secret(
    *,
    env_var: str | None,
    ciphertext: bytes | None,
    settings: Settings,
    environ: Mapping[str, str] = os.environ,
) -> str | None:
    """A channel's secret from its reference (one of the two, or neither: None).

    Errors name the variable, never its value.
    """
    if env_var is not None and ciphertext is not None:
        raise SecretError("a channel has both secret_env_var and secret_ciphertext; keep one")
    if env_var is not None:
        if env_var == _MASTER_KEY_VARIABLE:
            raise SecretError("METAAGENT_SECRET_KEY encrypts secrets; it is not a channel's")
        if not SECRET_ENV_VAR.fullmatch(env_var):
            # not echoed: a secret pasted into the wrong field would end up in logs
            raise SecretError("a secret variable name must match METAAGENT_SECRET_[A-Z0-9_]{1,100}")
        value = environ.get(env_var)
        if not value:
            raise SecretError(f"secret variable {env_var} is not set in the server's environment")
        return value
    if ciphertext is not None:
        return decrypt_secret(ciphertext, settings)
    return None
