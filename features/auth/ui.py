"""The login and sign-up forms: ipywidgets views of the auth actor and its service.

Every action goes through one helper, :func:`submit`, which schedules the service's coroutine on
the kernel's loop (from any thread: widget callbacks may run elsewhere) as a new causal chain and
hands the outcome back to the form on that loop. The passphrase goes straight from the widget to
the service, never through an event or the actor's mailbox, and the widget is cleared as soon as
an attempt starts. The button is disabled while the attempt runs, and after a wrong passphrase
until the delay has passed (a countdown in the message line). Colours come from JupyterLab's CSS
variables, so the forms read in light and dark themes. A form follows one actor: after the
feature is unmounted or hot-reloaded, build a new form.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable, Coroutine
from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import Actor, Event, spawn_task
from widgets import ERROR as _ERROR
from widgets import MUTED as _MUTED
from widgets import SUCCESS as _SUCCESS
from widgets import feature_actor

from . import events as ev
from ._passphrase import check_new_passphrase
from ._profiles import check_profile_name
from .errors import AuthError, LoginError, PassphrasePolicyError, ProfileError

__all__ = ["LoginForm", "SignupForm", "submit"]

_STYLE = {"ok": _SUCCESS, "error": _ERROR, "info": _MUTED}  # the theme's colours, light and dark
_WIDE = widgets.Layout(width="28em")
log = logging.getLogger("chatkernel.features.auth")


def submit(actor: Actor, make: Callable[[], Coroutine[Any, Any, Any]],
           done: Callable[[Any, BaseException | None], None]) -> None:
    """Run ``make()`` on ``actor``'s loop as a new causal chain, from any thread; then
    ``done(result, error)`` on that loop. The one way the forms start work."""
    loop = actor.loop
    if loop is None or not actor.running:
        done(None, RuntimeError("the auth feature is not running"))
        return

    def report(result: Any, error: BaseException | None) -> None:
        try:
            done(result, error)
        except Exception:  # noqa: BLE001 - a view that fails to redraw must not fail the task
            log.exception("an auth form failed to show the outcome")

    async def run() -> None:
        try:
            result = await make()
        except asyncio.CancelledError:
            report(None, RuntimeError("cancelled"))
            raise
        except Exception as exc:  # noqa: BLE001 - shown in the form, never raised into the loop
            report(None, exc)
        else:
            report(result, None)

    def start() -> None:
        spawn_task(run(), name="auth:form")

    try:
        on_loop = asyncio.get_running_loop() is loop
    except RuntimeError:
        on_loop = False
    if on_loop:
        start()
    else:
        loop.call_soon_threadsafe(start)


def _describe(error: BaseException) -> str:
    if isinstance(error, PassphrasePolicyError):
        return f"Passphrase {error.reason}."
    if isinstance(error, AuthError):
        return str(error)
    return f"Something went wrong ({type(error).__name__}); nothing was changed."


class _Form(widgets.VBox):
    form_name = "form"

    def __init__(self, source: Any, children: list[widgets.Widget], **kwargs: Any):
        self.actor = feature_actor(source, "auth", self.form_name)
        self.service = self.actor.machine.service
        self.message = widgets.HTML()
        self.message_text = ""
        self.message_kind = "info"
        self.working = False
        self._countdown: asyncio.Task[Any] | None = None
        super().__init__(children=[*children, self.message], **kwargs)
        self.add_class("chatkernel-auth")
        bus = self.actor.system.bus
        self._subscriptions = [bus.subscribe(spec.type, self._heard, owner=self.actor.feature)
                               for spec in ev.EMITTED] if bus is not None else []

    def say(self, kind: str, text: str) -> None:
        self.message_kind, self.message_text = kind, text
        self.message.value = (f"<span style='color:{_STYLE[kind]};font-family:var(--jp-ui-font-family)'>"
                              f"{escape(text)}</span>")

    def _heard(self, event: Event) -> None:  # a listener must not raise
        try:
            if event.source == self.actor.feature:
                self.heard(event)
        except Exception:  # noqa: BLE001
            pass

    def heard(self, event: Event) -> None:
        """Subclasses react to the feature's events (for example a timeout log-out)."""

    def _countdown_from(self, button: widgets.Button, text: str, seconds: float) -> None:
        self._stop_countdown()
        loop = self.actor.loop

        async def tick() -> None:
            assert loop is not None
            end = loop.time() + seconds
            while (left := end - loop.time()) > 0:
                self.say("error", f"{text} Try again in {math.ceil(left)} s.")
                await asyncio.sleep(min(1.0, left))
            button.disabled = self.working
            self.say("error", f"{text} You can try again now.")

        button.disabled = True
        self.say("error", f"{text} Try again in {math.ceil(seconds)} s.")
        self._countdown = spawn_task(tick(), name="auth:countdown")

    def _stop_countdown(self) -> None:
        task, self._countdown = self._countdown, None
        if task is not None:
            task.cancel()

    def close(self) -> None:
        """Detach from the bus (also reached from ``__del__``, maybe half-built)."""
        task = self.__dict__.get("_countdown")
        if task is not None:
            task.cancel()
        for subscription in self.__dict__.get("_subscriptions", ()):
            subscription.cancel()
        self._subscriptions = []
        super().close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(state={self.actor.state!r}, message={self.message_text!r})"


class LoginForm(_Form):
    """Profile, passphrase, Log in, and a message line (refusals and the retry countdown)."""

    form_name = "LoginForm"

    def __init__(self, source: Any, **kwargs: Any):
        actor = feature_actor(source, "auth", self.form_name)
        service = actor.machine.service
        self.profile = widgets.Dropdown(options=service.list_profiles(), description="Profile", layout=_WIDE)
        self.passphrase = widgets.Password(description="Passphrase", placeholder="your passphrase", layout=_WIDE)
        self.remember = widgets.Checkbox(description="Remember me on this machine", indent=False,
                                         layout=widgets.Layout(display="" if service.config.remember_me else "none"))
        self.login_button = widgets.Button(description="Log in", button_style="primary", icon="unlock",
                                           tooltip="Unlock the profile with its passphrase")
        super().__init__(source, [self.profile, self.passphrase, self.remember, self.login_button], **kwargs)
        self.login_button.on_click(lambda _: self.log_in())
        if not self.profile.options:
            self.say("info", "No profile on this machine yet: sign up first.")

    def refresh_profiles(self) -> None:
        current = self.profile.value
        options = self.service.list_profiles()
        self.profile.options = options
        if current in options:
            self.profile.value = current

    def log_in(self) -> None:
        """What the button does: validate, clear the passphrase field, start the attempt."""
        if self.working:
            return
        profile, passphrase = self.profile.value, self.passphrase.value
        self.passphrase.value = ""
        if not profile:
            self.say("error", "Choose a profile (or sign up to create one).")
            return
        if not passphrase:
            self.say("error", "Type the profile's passphrase.")
            return
        self._stop_countdown()
        self.working = True
        self.login_button.disabled = True
        self.say("info", f"Unlocking {profile}\u2026")
        remember = bool(self.remember.value)
        submit(self.actor, functools.partial(self.service.log_in, profile, passphrase, remember=remember),
               functools.partial(self._done, profile))

    def _done(self, profile: str, user_id: Any, error: BaseException | None) -> None:
        self.working = False
        self.passphrase.value = ""
        self.login_button.disabled = False
        if error is None:
            self.say("ok", f"Unlocked {profile}.")
        elif isinstance(error, LoginError) and error.retry_after > 0:
            text = "Wrong passphrase." if error.failure == "wrong_passphrase" else "Too many wrong passphrases."
            self._countdown_from(self.login_button, text, error.retry_after)
        elif isinstance(error, LoginError):
            self.say("error", "Wrong passphrase. Try again.")
        else:
            self.say("error", _describe(error))

    def heard(self, event: Event) -> None:
        if event.type == ev.AUTH_SUCCESS.type:
            self.refresh_profiles()
        elif event.type == ev.AUTH_LOGOUT.type:
            reason = event.payload["reason"]
            why = {"timeout": "the session was idle too long", "user": "as asked",
                   "shutdown": "the app stopped"}.get(reason, reason)
            self.say("info", f"Logged out of {event.payload['profile']} ({why}).")


class SignupForm(_Form):
    """Profile name, display name, passphrase and its confirmation, Sign up, and a message line."""

    form_name = "SignupForm"

    def __init__(self, source: Any, **kwargs: Any):
        self.profile = widgets.Text(description="Profile", placeholder="letters, digits, . _ -", layout=_WIDE)
        self.display_name = widgets.Text(description="Your name", placeholder="shown to your contacts", layout=_WIDE)
        self.passphrase = widgets.Password(description="Passphrase", placeholder="a few unrelated words",
                                           layout=_WIDE)
        self.confirm = widgets.Password(description="Repeat", placeholder="the same passphrase", layout=_WIDE)
        self.signup_button = widgets.Button(description="Sign up", button_style="primary", icon="user-plus",
                                            tooltip="Create the profile on this machine")
        super().__init__(source, [self.profile, self.display_name, self.passphrase, self.confirm,
                                  self.signup_button], **kwargs)
        self.signup_button.on_click(lambda _: self.sign_up())

    def problem(self, profile: str, display_name: str, passphrase: str, confirm: str) -> str | None:
        """The first thing to fix, as the message shows it, or None."""
        try:
            check_profile_name(profile)
        except ProfileError as exc:
            return f"Profile name: {exc.reason}." if profile else "Choose a profile name."
        if profile in self.service.list_profiles():
            return f"Profile {profile!r} already exists on this machine: log in to it or choose another name."
        if not display_name.strip():
            return "Type the name your contacts will see."
        try:
            check_new_passphrase(passphrase, min_length=self.service.config.min_passphrase_length)
        except PassphrasePolicyError as exc:
            return f"Passphrase {exc.reason}."
        if passphrase != confirm:
            return "The two passphrases differ; type the same one twice."
        return None

    def sign_up(self) -> None:
        """What the button does: validate, clear both passphrase fields, start the sign-up."""
        if self.working:
            return
        profile, name = self.profile.value.strip(), self.display_name.value
        passphrase, confirm = self.passphrase.value, self.confirm.value
        self.passphrase.value = self.confirm.value = ""
        problem = self.problem(profile, name, passphrase, confirm)
        if problem is not None:
            self.say("error", problem)
            return
        self.working = True
        self.signup_button.disabled = True
        self.say("info", f"Creating {profile}\u2026 (deriving the key takes a moment)")
        submit(self.actor, functools.partial(self.service.sign_up, profile, name, passphrase),
               functools.partial(self._done, profile))

    def _done(self, profile: str, user_id: Any, error: BaseException | None) -> None:
        self.working = False
        self.passphrase.value = self.confirm.value = ""
        self.signup_button.disabled = False
        if error is None:
            self.say("ok", f"Created and unlocked {profile}.")
        else:
            self.say("error", _describe(error))
