"""The causal context: which event is being handled, for events dispatched from async work.

Context variables are inherited by every task created while they are set, which would make a
long-lived task (a long poll invoked by a state, an outbox loop) claim the event that started
it as the cause of everything it ever dispatches. Work that outlives the event that started it
runs under :func:`new_chain`: what it dispatches starts a new causal chain.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["current_cause", "new_chain", "spawn_task"]

T = TypeVar("T")

#: The (event id, owner) being handled in the current async context.
current_cause: contextvars.ContextVar[tuple[int, str | None] | None] = contextvars.ContextVar(
    "chatkernel_current_cause", default=None
)


def new_chain() -> contextvars.Context:
    """A copy of the current context in which no event is being handled."""
    token = current_cause.set(None)
    try:
        return contextvars.copy_context()
    finally:
        current_cause.reset(token)


def spawn_task(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """Start long-lived work on the running loop as the start of a new causal chain."""
    return asyncio.get_running_loop().create_task(coro, name=name, context=new_chain())
