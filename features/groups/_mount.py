"""Mounting the groups feature; kept out of ``__init__`` so the contract imports nothing heavy."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder

from ._api import ContactsAPI, IdentityAPI, MessagingAPI


async def mount(ctx: FeatureContext) -> MountResult:
    from .machine import GroupsMachine
    from .service import GroupsService

    identity = ctx.dependency("identity", IdentityAPI)
    contacts = ctx.dependency("contacts", ContactsAPI)
    messaging = ctx.dependency("messaging", MessagingAPI)
    service = GroupsService(identity, contacts, messaging, ctx.settings, ctx.emit, logger=ctx.logger)
    actor = await ctx.spawn(GroupsMachine(service))
    service.listener = forwarder(actor)
    if messaging.ready and identity.user_id is not None:  # mounted after the log-in
        actor.machine.load()
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    result = ctx.mount_result
    if result is not None and result.service is not None:
        result.service.listener = None
        result.service.forget()


def groups_panel() -> Any:
    """The ``GroupsPanel`` class, imported only when a notebook asks for it."""
    from .ui import GroupsPanel

    return GroupsPanel
