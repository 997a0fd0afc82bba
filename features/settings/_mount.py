"""Mounting the settings feature; kept out of ``__init__`` so the contract imports nothing heavy
(httpx, ipywidgets) and has no side effects."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult


async def mount(ctx: FeatureContext) -> MountResult:
    from .machine import SettingsMachine
    from .service import SettingsService

    service = SettingsService(ctx.state_dir, config=ctx.settings)
    actor = await ctx.spawn(SettingsMachine(service))
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    """Let a write in flight finish; say how many queued requests the unmount cuts off."""
    result = ctx.mount_result
    if result is None or result.service is None:
        return
    await result.service.flush()
    machine = result.actor.machine if result.actor is not None else None
    pending = len(getattr(machine, "pending", ()))
    if pending:
        ctx.logger.warning("settings unmounted with %d queued request(s) not carried out", pending)


def settings_panel() -> Any:
    """The ``SettingsPanel`` class, imported only when a notebook asks for it."""
    from .ui import SettingsPanel

    return SettingsPanel
