"""The contacts state machine: locked -> loading -> ready, and back to locked at log-out.

``ready`` means the loaded identity's list is in memory. The service does the work and reports
LOADED / LOAD_FAILED / CHANGED through its listener; the UI's commands (ADD, RENAME, BLOCK,
UNBLOCK, REMOVE, SELECT, VERIFY) write to the database, so each runs as its own task, and a
refusal is kept in the service's ``last_error`` (operation, kind, reason) for the panel to
show. Trust changes said by identity and the chat's unread counts only make the panel redraw.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from statemachine import State

from chatkernel import ChatKernelError, Event, Machine, bus_payload, spawn_task

from .service import ContactsService

__all__ = ["ContactsMachine"]


class ContactsMachine(Machine):
    locked = State(initial=True)
    loading = State()
    ready = State()

    IDENTITY_LOADED = locked.to(loading, on="load") | loading.to(loading, on="load") | ready.to(loading, on="load")
    IDENTITY_CREATED = locked.to(loading, on="load") | loading.to(loading, on="load") | ready.to(loading, on="load")
    LOADED = loading.to(ready) | locked.to(ready) | ready.to(None)  # locked: the load started at mount
    LOAD_FAILED = loading.to(locked, on="load_failed") | ready.to(None) | locked.to(None)
    IDENTITY_FORGOTTEN = (ready.to(locked, on="forget") | loading.to(locked, on="forget")
                          | locked.to(None, on="forget"))
    PERSISTENCE_LOCKED = (ready.to(locked, on="forget") | loading.to(locked, on="forget")
                          | locked.to(None, on="forget"))
    SECURE_MESSAGE_RECEIVED = ready.to(None, on="seen") | loading.to(None) | locked.to(None)
    UNREAD_CHANGED = ready.to(None, on="unread") | loading.to(None) | locked.to(None)
    CONTACT_PINNED = ready.to(None) | loading.to(None) | locked.to(None)
    CONTACT_VERIFIED = ready.to(None) | loading.to(None) | locked.to(None)
    KEY_CHANGED = ready.to(None) | loading.to(None) | locked.to(None)
    KEY_CHANGE_DISMISSED = ready.to(None) | loading.to(None) | locked.to(None)
    CHANGED = ready.to(None) | loading.to(None) | locked.to(None)
    ADD = ready.to(None, on="request_add")
    RENAME = ready.to(None, on="request_rename")
    BLOCK = ready.to(None, on="request_block")
    UNBLOCK = ready.to(None, on="request_unblock")
    REMOVE = ready.to(None, on="request_remove")
    SELECT = ready.to(None, on="request_select")
    VERIFY = ready.to(None, on="request_verify")

    def __init__(self, service: ContactsService, **kw: Any):
        self.service = service
        super().__init__(**kw)

    # ------------------------------------------------------------------ lifecycle
    def load(self, **_: Any) -> None:
        spawn_task(self._load(), name="contacts:load")

    async def _load(self) -> None:
        try:
            await self.service.load()
        except Exception as exc:  # noqa: BLE001 - reported (LOAD_FAILED), never raised into the machine
            self.service.failed("load", exc)

    def load_failed(self, **_: Any) -> None:
        """The list stays unread: the panel shows why (the service's ``last_error``)."""

    def forget(self, **_: Any) -> None:
        self.service.forget()

    # ------------------------------------------------------------------ heard
    def seen(self, bus_event: Event | None = None, **_: Any) -> None:
        peer = bus_payload(bus_event).get("peer")
        if isinstance(peer, str):
            spawn_task(self.service.seen(peer), name="contacts:seen")

    def unread(self, bus_event: Event | None = None, **_: Any) -> None:
        payload = bus_payload(bus_event)
        self.service.unread_changed(payload.get("conversation"), payload.get("unread"))

    # ------------------------------------------------------------------ the UI's commands
    def _run(self, operation: str, work: Awaitable[Any]) -> None:
        self.service.last_error = None
        spawn_task(self._guarded(operation, work), name=f"contacts:{operation}")

    async def _guarded(self, operation: str, work: Awaitable[Any]) -> None:
        try:
            await work
        except ChatKernelError as exc:  # shown by the panel; nothing was changed
            self.service.failed(operation, exc)

    def request_add(self, invite: str = "", name: str | None = None, **_: Any) -> None:
        self._run("add", self.service.add(invite, name))

    def request_rename(self, user_id: str = "", name: str = "", **_: Any) -> None:
        self._run("rename", self.service.rename(user_id, name))

    def request_block(self, user_id: str = "", **_: Any) -> None:
        self._run("block", self.service.block(user_id))

    def request_unblock(self, user_id: str = "", **_: Any) -> None:
        self._run("unblock", self.service.unblock(user_id))

    def request_remove(self, user_id: str = "", **_: Any) -> None:
        self._run("remove", self.service.remove(user_id))

    def request_verify(self, user_id: str = "", number: str = "", **_: Any) -> None:
        self._run("verify", self.service.verify(user_id, number))

    def request_select(self, user_id: str = "", **_: Any) -> None:
        self.service.last_error = None
        try:
            self.service.select(user_id)
        except ChatKernelError as exc:
            self.service.failed("select", exc)
