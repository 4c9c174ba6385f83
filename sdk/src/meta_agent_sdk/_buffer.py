"""What stands in for the logger's buffer and claims when nothing will be sent."""

from __future__ import annotations

from collections import deque
from typing import Union


class NoClaims(dict):  # type: ignore[type-arg]
    """Claims when nothing will ever be sent: never stored, always granted."""

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def pop(self, key: object, default: object = None) -> object:
        return True


class Discard:
    """Stands in for the buffer when disabled (silently) or shut down (counting drops)."""

    def __init__(self, counting: bool) -> None:
        self.counting = counting
        self.count = 0

    def append(self, item: object) -> None:
        if self.counting:
            self.count += 1

    def popleft(self) -> object:
        raise IndexError("empty")

    def __len__(self) -> int:
        return 0


Buffer = Union["deque[object]", Discard]
