"""The auth state machine, the seed's: checking_session -> unauthenticated <-> logging_in /
signing_up -> authenticated -> logging_out -> unauthenticated.

::

    checking_session --CHECKED--> unauthenticated          (no remembered key)
    checking_session --SUCCEEDED--> authenticated          (remember-me unlocked a profile)
    unauthenticated --LOGGING_IN--> logging_in --SUCCEEDED--> authenticated
    unauthenticated --SIGNING_UP--> signing_up --SUCCEEDED--> authenticated
    logging_in / signing_up --FAILED--> unauthenticated    (AUTH_FAILED {profile, reason, retry_after_s})
    authenticated --LOGGING_OUT--> logging_out --LOGGED_OUT--> unauthenticated   (AUTH_LOGOUT {profile, reason})

The service does the work and reports each step through its listener, as persistence's does: the
passphrase and the key never travel as events, so they never reach a mailbox, the inspection
stream or a snapshot. Commands without secrets come from the UI through :func:`chatkernel.fire`:
``LOGOUT`` (log out, reason ``user``) and ``TOUCH`` (user activity: the idle timeout restarts).
Logging in and signing up take a passphrase, so the forms call the service directly.
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from chatkernel import Machine, spawn_task

from . import events as ev
from .service import AuthService

__all__ = ["AuthMachine"]


class AuthMachine(Machine):
    checking_session = State(initial=True)
    unauthenticated = State()
    logging_in = State()
    signing_up = State()
    authenticated = State()
    logging_out = State()

    CHECKED = checking_session.to(unauthenticated)
    LOGGING_IN = unauthenticated.to(logging_in, on="attempt") | checking_session.to(logging_in, on="attempt")
    SIGNING_UP = unauthenticated.to(signing_up, on="attempt") | checking_session.to(signing_up, on="attempt")
    SUCCEEDED = (logging_in.to(authenticated, on="succeeded") | signing_up.to(authenticated, on="succeeded")
                 | checking_session.to(authenticated, on="succeeded"))
    FAILED = (logging_in.to(unauthenticated, on="failed") | signing_up.to(unauthenticated, on="failed")
              | unauthenticated.to(None, on="failed"))
    LOGGING_OUT = authenticated.to(logging_out)
    LOGGED_OUT = logging_out.to(unauthenticated, on="logged_out") | authenticated.to(unauthenticated, on="logged_out")
    LOGOUT = authenticated.to(None, on="request_logout")
    TOUCH = authenticated.to(None, on="touch")

    busy_states = frozenset({"logging_in", "signing_up", "logging_out"})
    snapshot_fields = ("profile", "user_id", "last_failure")

    def __init__(self, service: AuthService, **kw: Any):
        self.service = service
        self.profile: str | None = None
        self.user_id: str | None = None
        self.last_failure: dict[str, Any] | None = None
        super().__init__(**kw)

    def attempt(self, profile: str = "", **_: Any) -> None:
        self.profile = profile
        self.last_failure = None

    def succeeded(self, profile: str = "", user_id: str = "", **_: Any) -> None:
        self.profile, self.user_id, self.last_failure = profile, user_id, None
        self.emit(ev.AUTH_SUCCESS, {"profile": profile, "user_id": user_id})

    def failed(self, profile: str = "", reason: str = "storage_error", retry_after_s: float = 0.0, **_: Any) -> None:
        self.last_failure = {"profile": profile, "reason": reason, "retry_after_s": float(retry_after_s)}
        self.user_id = None
        self.emit(ev.AUTH_FAILED, dict(self.last_failure))

    def logged_out(self, profile: str = "", reason: str = "user", **_: Any) -> None:
        self.user_id = None
        self.emit(ev.AUTH_LOGOUT, {"profile": profile, "reason": reason})

    def request_logout(self, **_: Any) -> None:
        """Logging out waits for the database to close: done in its own task, not in this step."""
        spawn_task(self.service.log_out("user"), name="auth-logout")

    def touch(self, **_: Any) -> None:
        self.service.touch()
