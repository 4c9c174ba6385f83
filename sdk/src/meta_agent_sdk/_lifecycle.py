"""Process lifecycle: flush at interpreter exit, start afresh in a forked child.

At exit, every live logger shuts down within its `atexit_timeout_s`. After `fork()`, the child
gets, for every logger, an empty buffer and a worker of its own on its first log; it closes
its copies of the parent's spool descriptors (the parent keeps its locks) and never replays
the parent's spool. A `multiprocessing` child leaves through `os._exit`, which skips atexit,
so there the same shutdown is registered as a multiprocessing finalizer.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import weakref
from typing import TYPE_CHECKING

from meta_agent_sdk import _ids

if TYPE_CHECKING:
    from meta_agent_sdk._logger import AgentLogger

_live: weakref.WeakSet[AgentLogger] = weakref.WeakSet()


class _Token:
    """A weakly referenceable key for multiprocessing's after-fork registry."""


_MP_TOKEN = _Token()


def register(logger: AgentLogger) -> None:
    """Track a logger for exit and fork handling."""
    _live.add(logger)


def shutdown_all() -> None:
    """Shut every live logger down, each within its own exit timeout."""
    for logger in list(_live):
        with contextlib.suppress(Exception):
            logger.shutdown(logger._settings.atexit_timeout_s)


def _register_mp_finalizer(_: object) -> None:
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.Finalize(None, shutdown_all, exitpriority=0)


def _after_fork_in_child() -> None:
    _ids.reseed()
    for logger in list(_live):
        with contextlib.suppress(Exception):
            logger._after_fork_in_child()
    util = sys.modules.get("multiprocessing.util")
    if util is not None and _live:
        util.register_after_fork(_MP_TOKEN, _register_mp_finalizer)


atexit.register(shutdown_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
