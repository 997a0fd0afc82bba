"""The identity state machine: absent -> loading -> ready | none, and error.

``absent``: nothing loaded (before log-in, after log-out or lock); ``loading``: the service is
creating or loading; ``ready``: the identity is in memory; ``none``: the open profile has no
identity yet (sign-up creates one); ``error``: loading failed, the stored record is untouched.

As with persistence, the service does the work and reports each step (LOADING, LOADED, MISSING,
FAILED, FORGOTTEN; PINNED, CHANGED, DISMISSED, ACCEPTED, VERIFIED for contacts) through its
listener, and the machine records it and says it on the bus. That way round the private keys
never travel as an event or sit in a mailbox, where inspection and snapshots would see them. It
hears PERSISTENCE_LOCKED (the keys are forgotten) and SIGNALING_URL_CHANGED (the app's
``allow_insecure_remote`` switch); VERIFY, DISMISS and FORGET are the UI's commands. There is no
ACCEPT command: other keys for a known contact cannot derive their user id, so the one answer to
KEY_CHANGED is DISMISS (the pin stays); a contact with new keys has a new id and a new invite.
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from chatkernel import Machine, spawn_task

from . import events as ev
from .errors import IdentityError
from .service import IdentityService

__all__ = ["IdentityMachine"]


class IdentityMachine(Machine):
    absent = State(initial=True)
    loading = State()
    ready = State()
    none = State()
    error = State()

    LOADING = absent.to(loading) | none.to(loading) | error.to(loading) | ready.to(loading)
    LOADED = loading.to(ready, on="loaded")
    MISSING = loading.to(none)
    FAILED = loading.to(error, on="failed")
    FORGOTTEN = (ready.to(absent, on="forgotten") | none.to(absent, on="forgotten")
                 | error.to(absent, on="forgotten") | loading.to(absent, on="forgotten")
                 | absent.to(None))  # nothing was loaded: nothing to say
    PINNED = ready.to(None, on="pinned")
    CHANGED = ready.to(None, on="changed")
    ACCEPTED = ready.to(None, on="accepted")
    DISMISSED = ready.to(None, on="dismissed")
    VERIFIED = ready.to(None, on="verified")
    VERIFY = ready.to(None, on="request_verify")
    DISMISS = ready.to(None, on="request_dismiss")
    # the service may hold keys in any state (a report still queued): always ask it to forget
    FORGET = (absent.to(None, on="request_forget") | loading.to(None, on="request_forget") | ready.to(None, on="request_forget")
              | none.to(None, on="request_forget") | error.to(None, on="request_forget"))
    PERSISTENCE_LOCKED = (absent.to(None, on="request_forget") | loading.to(None, on="request_forget")
                          | ready.to(None, on="request_forget") | none.to(None, on="request_forget")
                          | error.to(None, on="request_forget"))
    SIGNALING_URL_CHANGED = (absent.to(None, on="follow_url_policy") | loading.to(None, on="follow_url_policy")
                             | ready.to(None, on="follow_url_policy") | none.to(None, on="follow_url_policy")
                             | error.to(None, on="follow_url_policy"))

    snapshot_fields = ("user_id", "display_name", "last_error")

    def __init__(self, service: IdentityService, **kw: Any):
        self.service = service
        self.user_id: str | None = None
        self.display_name: str | None = None
        self.last_error: dict[str, str] | None = None
        super().__init__(**kw)

    def on_enter_loading(self, **_: Any) -> None:
        self.last_error = None

    def loaded(self, user_id: str = "", display_name: str = "", created: bool = False, **_: Any) -> None:
        self.user_id, self.display_name = user_id, display_name
        if created:
            self.emit(ev.IDENTITY_CREATED, {"user_id": user_id, "display_name": display_name})
        else:
            self.emit(ev.IDENTITY_LOADED, {"user_id": user_id})

    def failed(self, operation: str = "load", kind: str = "IdentityError", reason: str = "", **_: Any) -> None:
        self.last_error = {"operation": operation, "kind": kind, "reason": reason}
        self.emit(ev.IDENTITY_ERROR, {"operation": "create" if operation == "create" else "load",
                                      "kind": kind, "reason": reason})

    def forgotten(self, user_id: str | None = None, **_: Any) -> None:
        self.user_id = self.display_name = None
        self.emit(ev.IDENTITY_FORGOTTEN, {"user_id": user_id})

    def pinned(self, user_id: str = "", **_: Any) -> None:
        self.emit(ev.CONTACT_PINNED, {"user_id": user_id})

    def changed(self, user_id: str = "", old_fingerprint: str = "", new_fingerprint: str = "", **_: Any) -> None:
        self.emit(ev.KEY_CHANGED, {"user_id": user_id, "old_fingerprint": old_fingerprint,
                                   "new_fingerprint": new_fingerprint})

    def accepted(self, user_id: str = "", fingerprint: str = "", **_: Any) -> None:
        self.emit(ev.KEY_ACCEPTED, {"user_id": user_id, "fingerprint": fingerprint})

    def dismissed(self, user_id: str = "", fingerprint: str = "", dismissed_fingerprint: str = "", **_: Any) -> None:
        self.emit(ev.KEY_CHANGE_DISMISSED, {"user_id": user_id, "fingerprint": fingerprint,
                                            "dismissed_fingerprint": dismissed_fingerprint})

    def verified(self, user_id: str = "", fingerprint: str = "", **_: Any) -> None:
        self.emit(ev.CONTACT_VERIFIED, {"user_id": user_id, "fingerprint": fingerprint})

    def request_forget(self, **_: Any) -> None:
        """The service reports FORGOTTEN back through its listener (a new mailbox step)."""
        self.service.forget()

    def follow_url_policy(self, bus_event: Any = None, **_: Any) -> None:
        payload = getattr(bus_event, "payload", None) or {}
        if isinstance(payload.get("allow_insecure_remote"), bool):
            self.service.allow_insecure_remote = payload["allow_insecure_remote"]

    def request_verify(self, user_id: str = "", fingerprint: str | None = None, **_: Any) -> None:
        """Verifying writes to the database: in its own task, not in this step."""
        spawn_task(self._verify(user_id, fingerprint), name="identity-verify")

    async def _verify(self, user_id: str, fingerprint: str | None) -> None:
        try:
            await self.service.mark_verified(user_id, fingerprint=fingerprint)
        except IdentityError as exc:  # shown by the UI; the contact is unchanged
            self.last_error = {"operation": "verify", "kind": type(exc).__name__, "reason": str(exc)}

    def request_dismiss(self, user_id: str = "", fingerprint: str | None = None, **_: Any) -> None:
        """Dismissing writes to the database: in its own task, not in this step."""
        spawn_task(self._dismiss(user_id, fingerprint), name="identity-dismiss")

    async def _dismiss(self, user_id: str, fingerprint: str | None) -> None:
        try:
            await self.service.dismiss_key_change(user_id, fingerprint=fingerprint)
        except IdentityError as exc:  # shown by the UI; the contact is unchanged
            self.last_error = {"operation": "dismiss", "kind": type(exc).__name__, "reason": str(exc)}
