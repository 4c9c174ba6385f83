"""Errors that end a command with a one-line message naming the cause.

Anything raised as `MetaAgentError` is printed by the CLI as a single line and exits non-zero;
anything else is a bug and keeps its traceback.
"""


class MetaAgentError(Exception):
    """A failure the operator can act on: bad settings, a server that does not answer."""


class SettingsError(MetaAgentError):
    """An environment variable has a value we cannot use."""


class ServerUnavailableError(MetaAgentError):
    """A database or Redis that should answer does not."""


class MigrationError(MetaAgentError):
    """The migrations on disk and the ones applied to the database disagree."""
