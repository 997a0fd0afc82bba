"""Mounting the notifications feature; kept out of ``__init__`` so the contract imports nothing heavy."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder

from ._api import ChatAPI, PersistenceAPI


async def mount(ctx: FeatureContext) -> MountResult:
    from ._store import MIGRATIONS
    from .machine import NotificationsMachine
    from .service import NotificationsService

    db = ctx.dependency("persistence", PersistenceAPI)
    db.add_migrations(MIGRATIONS)
    chat = ctx.dependency("chat", ChatAPI)
    if db.state == "open":
        await db.migrate()
    service = NotificationsService(db, chat, ctx.settings, ctx.emit, logger=ctx.logger)
    actor = await ctx.spawn(NotificationsMachine(service))
    service.listener = forwarder(actor)
    if db.state == "open":  # mounted after the log-in (a hot reload): read the mutes now
        actor.machine.load()
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    result = ctx.mount_result
    if result is not None and result.service is not None:
        result.service.listener = None
        result.service.forget()


def notification_center() -> Any:
    """The ``NotificationCenter`` class, imported only when a notebook asks for it."""
    from .ui import NotificationCenter

    return NotificationCenter
