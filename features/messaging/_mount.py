"""Mounting the messaging feature; kept out of ``__init__`` so the contract imports nothing heavy."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder

from ._api import CryptoAPI, IdentityAPI, PersistenceAPI, SignalingAPI


async def mount(ctx: FeatureContext) -> MountResult:
    from ._store import MIGRATIONS
    from .machine import MessagingMachine
    from .service import MessagingService

    db = ctx.dependency("persistence", PersistenceAPI)
    db.add_migrations(MIGRATIONS)
    if db.state == "open":
        await db.migrate()
    service = MessagingService(db, ctx.dependency("identity", IdentityAPI), ctx.dependency("crypto", CryptoAPI),
                               ctx.dependency("signaling", SignalingAPI), ctx.settings, ctx.emit, logger=ctx.logger)
    actor = await ctx.spawn(MessagingMachine(service))
    service.listener = forwarder(actor)
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    result = ctx.mount_result
    if result is not None and result.service is not None:
        result.service.listener = None


def status_panel() -> Any:
    """The ``MessagingStatus`` class, imported only when a notebook asks for it."""
    from .ui import MessagingStatus

    return MessagingStatus
