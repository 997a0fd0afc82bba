"""Mounting and unmounting the signaling feature (kept out of ``__init__`` so the contract
module stays import-light and side-effect free)."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult

from ._api import IdentityAPI, PersistenceAPI


async def mount(ctx: FeatureContext) -> MountResult:
    from ._store import MIGRATIONS
    from .machine import SignalingMachine
    from .service import Backoff, SignalingService

    config = ctx.settings
    db = ctx.dependency("persistence", PersistenceAPI)
    db.add_migrations(MIGRATIONS)
    if db.state == "open":
        await db.migrate()
    service = SignalingService(ctx.emit, ctx.dependency("identity", IdentityAPI), db=db,
                               poll_timeout_s=config.poll_timeout_s,
                               backoff=Backoff(base_s=config.backoff_base_s, cap_s=config.backoff_cap_s),
                               key_wait_s=config.key_wait_s)
    if config.url:
        service.set_url(config.url)
    actor = await ctx.spawn(SignalingMachine(service, auto_connect=config.auto_connect))
    service.on_token_rejected = lambda: actor.send("TOKEN_REJECTED") if actor.running else None
    service.start(ctx.start_task)
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> Any:
    result = ctx.mount_result
    if result is not None and result.service is not None:
        await result.service.close()
