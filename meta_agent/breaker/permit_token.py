"""A permit as text, for its round trip through the agent: the API hands a probe permit to
the SDK as a token, the SDK puts it in the metadata of the execution it ran under it, and the
realtime worker turns it back into the permit that execution's result reports against.

`<kind>:<version>:<slot>:<deadline_ms>` (slot and deadline empty for a permit without them).
A token names one probe slot of one round of one breaker (the tenant and agent come from the
execution), and a result counts only while that exact slot is out, so a replayed or invented
token changes nothing the holder of a real one could not.
"""

from __future__ import annotations

from meta_agent.breaker.state import Permit, PermitKind

MAX_TOKEN_LENGTH = 80


def encode(permit: Permit) -> str:
    def part(value: int | None) -> str:
        return "" if value is None else str(value)

    return f"{permit.kind.value}:{permit.version}:{part(permit.slot)}:{part(permit.deadline_ms)}"


def decode(token: str | None) -> Permit | None:
    """The permit of a token; None for no token or one that is not well formed."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    parts = token.split(":")
    if len(parts) != 4:
        return None
    kind, version, slot, deadline = parts
    try:
        return Permit(
            PermitKind(kind),
            int(version),
            int(slot) if slot else None,
            int(deadline) if deadline else None,
        )
    except ValueError:
        return None
