"""Mounting and unmounting the signaling feature (kept out of ``__init__`` so the contract
module stays import-light and side-effect free)."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult


async def mount(ctx: FeatureContext) -> MountResult:
    from .machine import SignalingMachine
    from .service import Backoff, SignalingService

    settings = ctx.settings
    service = SignalingService(
        ctx.emit,
        allow_insecure=bool(settings.get("allow_insecure_remote", False)),
        poll_timeout_s=float(settings.get("poll_timeout_s", 25.0)),
        backoff=Backoff(base_s=float(settings.get("backoff_base_s", 0.2)),
                        cap_s=float(settings.get("backoff_cap_s", 10.0))),
    )
    if settings.get("url"):
        service.set_url(str(settings["url"]))
    actor = await ctx.spawn(SignalingMachine(service, auto_connect=bool(settings.get("auto_connect", True))))
    service.on_token_rejected = lambda: actor.send("TOKEN_REJECTED") if actor.running else None
    service.start()
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> Any:
    result = ctx.mount_result
    if result is not None and result.service is not None:
        await result.service.close()
