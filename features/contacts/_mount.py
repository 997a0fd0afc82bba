"""Mounting the contacts feature; kept out of ``__init__`` so the contract imports nothing heavy."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder

from ._api import IdentityAPI, PersistenceAPI


async def mount(ctx: FeatureContext) -> MountResult:
    from ._store import MIGRATIONS
    from .machine import ContactsMachine
    from .service import ContactsService

    db = ctx.dependency("persistence", PersistenceAPI)
    db.add_migrations(MIGRATIONS)
    identity = ctx.dependency("identity", IdentityAPI)
    if db.state == "open":
        await db.migrate()
    service = ContactsService(db, identity, ctx.settings, ctx.emit, logger=ctx.logger)
    actor = await ctx.spawn(ContactsMachine(service))
    service.listener = forwarder(actor)
    if db.state == "open" and identity.user_id is not None:  # mounted after the log-in
        actor.machine.load()
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    result = ctx.mount_result
    if result is not None and result.service is not None:
        result.service.listener = None
        result.service.forget()


def contacts_panel() -> Any:
    """The ``ContactsPanel`` class, imported only when a notebook asks for it."""
    from .ui import ContactsPanel

    return ContactsPanel
