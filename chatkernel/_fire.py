"""The one helper UI code uses to send events, from any thread, to an actor or a machine.

On the async engine ``machine.send()`` from a plain function returns a coroutine that nothing
runs unless it is scheduled, and widget callbacks may run off the kernel's loop thread; this
helper covers both cases so no event is silently lost.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from statemachine import StateChart

from ._actors import RESERVED_KWARGS, Actor
from ._errors import ActorError

__all__ = ["fire"]


def _on_loop(loop: asyncio.AbstractEventLoop | None) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def fire(target: Actor | StateChart, event: str, /, **data: Any) -> None:
    """Send ``event`` to ``target`` without awaiting; safe from widget callbacks and threads."""
    if isinstance(target, Actor):
        clash = sorted(RESERVED_KWARGS.intersection(data))
        if clash:  # refused here, in the caller's thread, where the error can be seen
            raise ActorError(f"{event} to {target.id!r}: {', '.join(map(repr, clash))} is a name "
                             "python-statemachine passes to callbacks itself; rename the argument", actor_id=target.id)
        loop = target.loop
        if loop is None:
            raise ActorError(f"actor {target.id!r} has not been started", actor_id=target.id)
        if _on_loop(loop):
            target.send(event, **data)
        else:
            loop.call_soon_threadsafe(functools.partial(target.send, event, **data))
        return
    if isinstance(target, StateChart):
        result = target.send(event, **data)
        if asyncio.iscoroutine(result):
            asyncio.ensure_future(result)
        return
    raise TypeError(f"fire() needs an Actor or a StateChart, got {type(target).__name__}")
