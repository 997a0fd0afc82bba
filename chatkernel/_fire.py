"""Getting events into an actor from outside its machine: :func:`fire` for UI code,
:func:`forwarder` for a feature's service.

On the async engine ``machine.send()`` from a plain function returns a coroutine that nothing
runs unless it is scheduled, and widget callbacks may run off the kernel's loop thread; ``fire``
covers both cases so no event is silently lost. A service reports its steps to a ``listener``
(``listener(name, info)``) that must never raise (an exception would break the service's own
operation): ``forwarder`` is that listener for the feature's actor.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from statemachine import StateChart

from ._actors import RESERVED_KWARGS, Actor
from ._errors import ActorError

__all__ = ["fire", "forwarder"]

log = logging.getLogger("chatkernel.actors")


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


def _deliver(actor: Actor, event: str, data: dict[str, Any]) -> None:
    """``actor.send`` that never raises: dropped once the actor stopped, any refusal reported."""
    if not actor.running:
        log.debug("%s for %r dropped: the actor is %s", event, actor.id, actor.status)
        return
    try:
        actor.send(event, **data)
    except ActorError as exc:  # a reserved argument name, a full mailbox: the machine never sees it
        try:
            actor.report_error(ActorError(f"{event} from the service was dropped: {exc}", actor_id=actor.id))
        except Exception:  # noqa: BLE001 - reporting must not raise either
            log.exception("%s for %r dropped and could not be reported", event, actor.id)


def forwarder(actor: Actor) -> Callable[[str, Mapping[str, Any]], None]:
    """The listener a feature's service reports to: ``listener(name, info)`` becomes
    ``actor.send(name, **info)``. ::

        actor = await ctx.spawn(MyMachine(service))
        service.listener = forwarder(actor)   # on unmount: service.listener = None

    It forwards while the actor runs and never raises: reports made before the actor started or
    after it stopped are dropped silently (a debug log line), and a send the actor refuses (an
    argument named like one of python-statemachine's own, a full mailbox) is dropped and reported
    as ``FEATURE_ERROR``. Called from another thread, it hands the report over to the actor's
    loop, as :func:`fire` does.
    """

    def forward(name: str, info: Mapping[str, Any]) -> None:
        data = dict(info)
        loop = actor.loop
        if loop is None or _on_loop(loop) or not actor.running:
            _deliver(actor, name, data)
            return
        try:
            loop.call_soon_threadsafe(_deliver, actor, name, data)
        except RuntimeError:  # the loop is closed: the actor cannot run any more
            log.debug("%s for %r dropped: its loop is closed", name, actor.id)

    return forward
