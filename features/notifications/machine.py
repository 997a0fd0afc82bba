"""The notifications state machine: locked -> ready (the mutes of the loaded identity are read)
-> locked at log-out or lock.

The service does the work and reports LOADED / LOAD_FAILED through its listener. A message heard
while ready is turned into a toast in its own task (the chat's preview is awaited); one heard
while locked is only counted. The UI's commands (MUTE, UNMUTE, DISMISS, CLICK) arrive through
:func:`chatkernel.fire`; a refusal is kept in the service's ``last_error`` (operation, kind,
reason) for the widget to show. Settings and the chat's open/closed/unread news are heard in
every state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from statemachine import State

from chatkernel import ChatKernelError, Event, Machine, bus_payload, spawn_task

from .errors import NotReadyError
from .service import NotificationsService

__all__ = ["NotificationsMachine"]


class NotificationsMachine(Machine):
    locked = State(initial=True)
    ready = State()

    IDENTITY_LOADED = locked.to(None, on="load") | ready.to(locked, on="reload")
    IDENTITY_CREATED = locked.to(None, on="load") | ready.to(locked, on="reload")
    LOADED = locked.to(ready) | ready.to(None)
    LOAD_FAILED = locked.to(None) | ready.to(locked)
    IDENTITY_FORGOTTEN = ready.to(locked, on="forget") | locked.to(None, on="forget")
    PERSISTENCE_LOCKED = ready.to(locked, on="forget") | locked.to(None, on="forget")
    MESSAGE_RECEIVED = ready.to(None, on="received") | locked.to(None, on="received_locked")
    CONVERSATION_OPENED = ready.to(None, on="opened") | locked.to(None, on="opened")
    CONVERSATION_CLOSED = ready.to(None, on="closed") | locked.to(None, on="closed")
    UNREAD_CHANGED = ready.to(None, on="unread") | locked.to(None)
    SETTINGS_LOADED = ready.to(None, on="settings_loaded") | locked.to(None, on="settings_loaded")
    SETTINGS_CHANGED = ready.to(None, on="settings_changed") | locked.to(None, on="settings_changed")
    MUTE = ready.to(None, on="request_mute") | locked.to(None, on="refuse")
    UNMUTE = ready.to(None, on="request_unmute") | locked.to(None, on="refuse")
    DISMISS = ready.to(None, on="request_dismiss") | locked.to(None, on="refuse")
    CLICK = ready.to(None, on="request_click") | locked.to(None, on="refuse")

    def __init__(self, service: NotificationsService, **kw: Any):
        self.service = service
        self._tasks: set[asyncio.Task[Any]] = set()
        super().__init__(**kw)

    # ------------------------------------------------------------------ lifecycle
    def load(self, **_: Any) -> None:
        spawn_task(self._load(), name="notifications:load")

    def reload(self, **_: Any) -> None:
        """Another identity (or the same, again): forget, then read its mutes."""
        self.service.forget()
        self.load()

    async def _load(self) -> None:
        try:
            await self.service.load()
        except Exception as exc:  # noqa: BLE001 - reported (LOAD_FAILED), never raised into the machine
            self.service.failed("load", exc)

    def forget(self, **_: Any) -> None:
        self.service.forget()

    # ------------------------------------------------------------------ heard
    def _task(self, work: Awaitable[Any], name: str) -> None:
        # Not spawn_task: the toast is caused by the message, so its NOTIFICATION_SHOWN keeps the
        # MESSAGE_RECEIVED as its cause (the task inherits the context of the event's handling).
        task = asyncio.get_running_loop().create_task(work, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def received(self, bus_event: Event | None = None, **_: Any) -> None:
        payload = bus_payload(bus_event)
        self._task(self._received(payload.get("conversation"), payload.get("id")), "notifications:toast")

    async def _received(self, conversation: Any, message_id: Any) -> None:
        try:
            await self.service.notify(conversation, message_id)
        except ChatKernelError as exc:  # a malformed id, a log-out meanwhile: no toast, a line (ids only)
            self.service.log.info("message %r in %r: no toast: %s", message_id, conversation, type(exc).__name__)

    def received_locked(self, bus_event: Event | None = None, **_: Any) -> None:
        payload = bus_payload(bus_event)
        self.service.suppressed_while_locked(payload.get("conversation"), payload.get("id"))

    def opened(self, bus_event: Event | None = None, **_: Any) -> None:
        self.service.opened(bus_payload(bus_event).get("conversation"))

    def closed(self, bus_event: Event | None = None, **_: Any) -> None:
        self.service.closed(bus_payload(bus_event).get("conversation"))

    def unread(self, bus_event: Event | None = None, **_: Any) -> None:
        payload = bus_payload(bus_event)
        self.service.unread_changed(payload.get("conversation"), payload.get("unread"))

    def settings_loaded(self, bus_event: Event | None = None, **_: Any) -> None:
        settings = bus_payload(bus_event).get("settings")
        if isinstance(settings, dict) and "notifications" in settings:
            self.service.settings_heard("notifications", settings["notifications"])

    def settings_changed(self, bus_event: Event | None = None, **_: Any) -> None:
        payload = bus_payload(bus_event)
        self.service.settings_heard(payload.get("key"), payload.get("value"))

    # ------------------------------------------------------------------ the UI's commands
    def _run(self, operation: str, work: Callable[[], Any]) -> None:
        self.service.last_error = None
        try:
            result = work()
        except ChatKernelError as exc:
            self.service.failed(operation, exc)
            return
        if asyncio.iscoroutine(result):
            spawn_task(self._guarded(operation, result), name=f"notifications:{operation}")

    async def _guarded(self, operation: str, work: Awaitable[Any]) -> None:
        try:
            await work
        except ChatKernelError as exc:  # shown by the widget; nothing was changed
            self.service.failed(operation, exc)

    def request_mute(self, conversation: Any = None, **_: Any) -> None:
        self._run("mute", lambda: self.service.mute(conversation))

    def request_unmute(self, conversation: Any = None, **_: Any) -> None:
        self._run("unmute", lambda: self.service.unmute(conversation))

    def request_dismiss(self, id: Any = None, **_: Any) -> None:  # noqa: A002 - the toast's id
        self._run("dismiss", lambda: self.service.dismiss_all() if id is None else self.service.dismiss(id))

    def request_click(self, id: Any = None, **_: Any) -> None:  # noqa: A002 - the toast's id
        self._run("click", lambda: self.service.click(id))

    def refuse(self, event: Any = None, **_: Any) -> None:
        self.service.failed(str(event).lower(), NotReadyError("no identity is loaded"))
