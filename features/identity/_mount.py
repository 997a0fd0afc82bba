"""Mounting the identity feature; kept out of ``__init__`` so the contract imports nothing
heavy (cryptography's key classes, ipywidgets, segno) and has no side effects. Mounting loads
nothing: the auth feature calls ``create`` or ``load`` once it has opened the profile."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder

from ._api import PersistenceAPI


async def mount(ctx: FeatureContext) -> MountResult:
    from .machine import IdentityMachine
    from .service import IdentityService

    service = IdentityService(ctx.dependency("persistence", PersistenceAPI), ctx.settings)
    actor = await ctx.spawn(IdentityMachine(service))
    service.listener = forwarder(actor)
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    """The private keys leave memory with the feature."""
    result = ctx.mount_result
    if result is not None and result.service is not None:
        result.service.listener = None
        result.service.forget()


def identity_card() -> Any:
    """The ``IdentityCard`` class, imported only when a notebook asks for it."""
    from .ui import IdentityCard

    return IdentityCard


def safety_number_view() -> Any:
    """The ``SafetyNumberView`` class, imported only when a notebook asks for it."""
    from .ui import SafetyNumberView

    return SafetyNumberView
