"""Mounting the shell feature; kept out of ``__init__`` so the contract imports nothing heavy."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder


async def mount(ctx: FeatureContext) -> MountResult:
    from .machine import ShellMachine
    from .service import ShellService

    service = ShellService(ctx.settings, ctx.emit, logger=ctx.logger)
    actor = await ctx.spawn(ShellMachine(service))
    service.listener = forwarder(actor)
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    result = ctx.mount_result
    if result is not None and result.service is not None:
        result.service.listener = None


def app_window() -> Any:
    """The ``AppWindow`` class, imported only when a notebook asks for it."""
    from .ui import AppWindow

    return AppWindow
