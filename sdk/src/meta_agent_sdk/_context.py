"""The current execution and action of this thread or asyncio task.

Context variables, not thread-locals: an asyncio task copies the context it was created in,
so actions logged by tasks spawned inside an action nest under it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meta_agent_sdk._action import Action
    from meta_agent_sdk._execution import Execution

current_execution_var: ContextVar[Execution | None] = ContextVar(
    "metaagent_execution", default=None
)
current_action_var: ContextVar[Action | None] = ContextVar("metaagent_action", default=None)


def current_execution() -> Execution | None:
    """The execution whose `with` block (or decorated call) is running here, if any."""
    return current_execution_var.get()
