"""The groups state machine: locked -> loading -> ready, and back to locked at log-out.

``ready`` means the loaded identity's groups, as messaging keeps them, are in memory. The
service does the work and reports LOADED / LOAD_FAILED / CHANGED through its listener; the UI's
commands (CREATE, RENAME, INVITE, REMOVE, LEAVE, SELECT) ask messaging, so each runs as its own
task, and a refusal is kept in the service's ``last_error`` (operation, kind, reason) for the
panel to show. GROUP_CHANGED reads the list again; a contact's change only makes the panel
redraw (members are named at drawing time).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from statemachine import State

from chatkernel import ChatKernelError, Event, Machine, bus_payload, spawn_task

from .service import GroupsService

__all__ = ["GroupsMachine"]


class GroupsMachine(Machine):
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
    GROUP_CHANGED = ready.to(None, on="group_changed") | loading.to(None) | locked.to(None)
    CONTACT_ADDED = ready.to(None) | loading.to(None) | locked.to(None)
    CONTACT_RENAMED = ready.to(None) | loading.to(None) | locked.to(None)
    CONTACT_BLOCKED = ready.to(None) | loading.to(None) | locked.to(None)
    CONTACT_REMOVED = ready.to(None) | loading.to(None) | locked.to(None)
    CHANGED = ready.to(None) | loading.to(None) | locked.to(None)
    CREATE = ready.to(None, on="request_create")
    RENAME = ready.to(None, on="request_rename")
    INVITE = ready.to(None, on="request_invite")
    REMOVE = ready.to(None, on="request_remove")
    LEAVE = ready.to(None, on="request_leave")
    SELECT = ready.to(None, on="request_select")

    def __init__(self, service: GroupsService, **kw: Any):
        self.service = service
        super().__init__(**kw)

    # ------------------------------------------------------------------ lifecycle
    def load(self, **_: Any) -> None:
        spawn_task(self._load(), name="groups:load")

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
    def group_changed(self, bus_event: Event | None = None, **_: Any) -> None:
        payload = bus_payload(bus_event)
        spawn_task(self.service.changed(payload.get("group"), payload.get("change")), name="groups:changed")

    # ------------------------------------------------------------------ the UI's commands
    def _run(self, operation: str, work: Awaitable[Any]) -> None:
        self.service.last_error = None
        spawn_task(self._guarded(operation, work), name=f"groups:{operation}")

    async def _guarded(self, operation: str, work: Awaitable[Any]) -> None:
        try:
            await work
        except ChatKernelError as exc:  # ours or messaging's: shown by the panel
            self.service.failed(operation, exc)
        except Exception as exc:  # noqa: BLE001 - a bug: logged with its traceback, the panel says it failed
            self.service.log.exception("groups: %s failed", operation)
            self.service.failed(operation, exc)

    def request_create(self, name: str = "", members: Any = (), **_: Any) -> None:
        self._run("create", self.service.create(name, members))

    def request_rename(self, group: str = "", name: str = "", **_: Any) -> None:
        self._run("rename", self.service.rename(group, name))

    def request_invite(self, group: str = "", members: Any = (), **_: Any) -> None:
        self._run("invite", self.service.invite(group, members))

    def request_remove(self, group: str = "", member: str = "", **_: Any) -> None:
        self._run("remove", self.service.remove(group, member))

    def request_leave(self, group: str = "", **_: Any) -> None:
        self._run("leave", self.service.leave(group))

    def request_select(self, group: str = "", **_: Any) -> None:
        self._run("select", self.service.select(group))
