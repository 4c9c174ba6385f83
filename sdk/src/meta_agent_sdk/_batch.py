"""A batch: encoded executions and actions, joined into one request body when sent."""

from __future__ import annotations

import gzip
import json

from meta_agent_sdk._version import SDK_NAME, __version__

_HEAD = (
    b'{"sdk":'
    + json.dumps({"name": SDK_NAME, "version": __version__}, separators=(",", ":")).encode()
    + b',"executions":['
)


class Batch:
    """Items already encoded as JSON, kept apart so that a 413 can split them."""

    __slots__ = ("_gz", "actions", "executions", "nbytes")

    def __init__(self, executions: list[bytes] | None = None, actions: list[bytes] | None = None):
        self.executions: list[bytes] = executions if executions is not None else []
        self.actions: list[bytes] = actions if actions is not None else []
        self.nbytes = sum(map(len, self.executions)) + sum(map(len, self.actions))
        self._gz: bytes | None = None

    def __len__(self) -> int:
        return len(self.executions) + len(self.actions)

    def add_execution(self, data: bytes) -> None:
        """Append one encoded execution."""
        self.executions.append(data)
        self.nbytes += len(data) + 1

    def add_action(self, data: bytes) -> None:
        """Append one encoded action."""
        self.actions.append(data)
        self.nbytes += len(data) + 1

    def body(self) -> bytes:
        """The request body as JSON."""
        return b"".join(
            (_HEAD, b",".join(self.executions), b'],"actions":[', b",".join(self.actions), b"]}")
        )

    def compressed(self) -> bytes:
        """The request body, gzip-compressed (what is sent and what is spooled)."""
        if self._gz is None:
            # level 1: about half of level 5's CPU on the worker (GIL time taken from the
            # agent's threads) for a body about a tenth larger; logs compress well at any level
            self._gz = gzip.compress(self.body(), compresslevel=1, mtime=0)
        return self._gz

    def split(self) -> tuple[Batch, Batch]:
        """Two halves by item count (executions first, then actions)."""
        half = len(self) // 2
        ne = len(self.executions)
        if half <= ne:
            left = Batch(self.executions[:half], [])
            right = Batch(self.executions[half:], self.actions)
        else:
            cut = half - ne
            left = Batch(self.executions, self.actions[:cut])
            right = Batch([], self.actions[cut:])
        return left, right

    @classmethod
    def from_compressed(cls, payload: bytes) -> Batch:
        """Rebuild a batch from a spooled body (only needed to split it after a 413)."""
        doc = json.loads(gzip.decompress(payload))

        def encode(items: list[object]) -> list[bytes]:
            return [
                json.dumps(i, ensure_ascii=False, separators=(",", ":")).encode() for i in items
            ]

        return cls(encode(doc.get("executions") or []), encode(doc.get("actions") or []))
