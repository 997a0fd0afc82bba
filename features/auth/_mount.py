"""Mounting the auth feature; kept out of ``__init__`` so the contract imports nothing heavy
(cryptography, keyring, ipywidgets) and has no side effects. Mounting checks for a remembered
session (remember-me) in a task of its own and then waits for a login or a sign-up."""

from __future__ import annotations

from typing import Any

from chatkernel import FeatureContext, MountResult, forwarder

from ._api import IdentityAPI, PersistenceAPI

__all__ = ["login_form", "mount", "signup_form", "unmount"]


async def mount(ctx: FeatureContext) -> MountResult:
    from .machine import AuthMachine
    from .service import AuthService

    persistence = ctx.dependency("persistence", PersistenceAPI)
    identity = ctx.dependency("identity", IdentityAPI)
    service = AuthService(ctx.settings, persistence, identity, start_task=ctx.start_task, logger=ctx.logger)
    actor = await ctx.spawn(AuthMachine(service))
    service.listener = forwarder(actor)
    ctx.start_task(service.check_session(), name="auth:check-session")
    return MountResult(actor=actor, service=service)


async def unmount(ctx: FeatureContext) -> None:
    """Log out (reason ``shutdown``) while the database is still there, and let the machine say so."""
    result = ctx.mount_result
    if result is None or result.service is None:
        return
    await result.service.shutdown()
    if result.actor is not None and result.actor.running:
        await result.actor.settle(5.0)
    result.service.listener = None


def login_form() -> Any:
    """The ``LoginForm`` class, imported only when a notebook asks for it."""
    from .ui import LoginForm

    return LoginForm


def signup_form() -> Any:
    """The ``SignupForm`` class, imported only when a notebook asks for it."""
    from .ui import SignupForm

    return SignupForm
