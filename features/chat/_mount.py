"""Mounting the chat feature; kept out of ``__init__`` so the contract imports nothing heavy."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder

from ._api import ContactsAPI, IdentityAPI, MessagingAPI, PersistenceAPI


async def mount(ctx: FeatureContext) -> MountResult:
    from ._store import MIGRATIONS
    from .machine import ChatMachine
    from .service import ChatService

    db = ctx.dependency("persistence", PersistenceAPI)
    db.add_migrations(MIGRATIONS)
    if db.state == "open":
        await db.migrate()
    service = ChatService(db, ctx.dependency("identity", IdentityAPI), ctx.dependency("contacts", ContactsAPI),
                          ctx.dependency("messaging", MessagingAPI), ctx.settings, ctx.emit, logger=ctx.logger)
    actor = await ctx.spawn(ChatMachine(service))
    service.listener = forwarder(actor)
    if service.ready:  # mounted after the log-in
        actor.send("RESUME")
    # the Markdown parser (for previews and quotes) loads off the loop now, not at the first open
    ctx.start_task(asyncio.to_thread(importlib.import_module, "widgets._markdown"), name="chat:warm-markdown")
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    result = ctx.mount_result
    if result is not None and result.service is not None:
        result.service.listener = None
        result.service.forget()


def chat_window() -> Any:
    """The ``ChatWindow`` class, imported only when a notebook asks for it."""
    from .ui import ChatWindow

    return ChatWindow
