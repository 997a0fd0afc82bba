"""Mounting the persistence feature; kept out of ``__init__`` so the contract imports nothing
heavy (sqlcipher3, ipywidgets) and has no side effects. Mounting opens nothing: the database
opens when the auth feature hands the service a key."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder


async def mount(ctx: FeatureContext) -> MountResult:
    from .machine import PersistenceMachine
    from .service import PersistenceService

    service = PersistenceService(ctx.settings)
    actor = await ctx.spawn(PersistenceMachine(service))
    service.listener = forwarder(actor)
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    """Close the database: a transaction in flight finishes first."""
    result = ctx.mount_result
    if result is not None and result.service is not None:
        result.service.listener = None
        await result.service.close()


def status_panel() -> Any:
    """The ``PersistenceStatus`` class, imported only when a notebook asks for it."""
    from .ui import PersistenceStatus

    return PersistenceStatus
