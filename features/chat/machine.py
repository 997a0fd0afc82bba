"""The chat machine (the design's): locked -> ready, a conversation actor per conversation.

``ready`` means a profile is open. What messaging says about a conversation goes to that
conversation's actor (spawned at its first news, or when it is opened), so each conversation
hears its events in order. The UI's commands (OPEN, CLOSE, SEND, EDIT, DELETE, RETRY, READ,
TYPING, OLDER) run one after another in the order given, off the machine (they wait on the
database and the relay), and a refusal is kept in the service's ``last_error`` for the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from statemachine import State

from chatkernel import ChatKernelError, Event, Machine, bus_payload, spawn_task

from .conversation import ConversationMachine, conversation_actor_id
from .service import ChatService

__all__ = ["ChatMachine"]


class ChatMachine(Machine):
    locked = State(initial=True)
    ready = State()

    IDENTITY_LOADED = locked.to(ready, cond="service_ready", on="load") | locked.to(None) | ready.to(None, on="load")
    IDENTITY_CREATED = locked.to(ready, cond="service_ready", on="load") | locked.to(None) | ready.to(None, on="load")
    RESUME = locked.to(ready, cond="service_ready", on="load") | locked.to(None) | ready.to(None)
    IDENTITY_FORGOTTEN = ready.to(locked, on="forget") | locked.to(None, on="forget")
    PERSISTENCE_LOCKED = ready.to(locked, on="forget") | locked.to(None, on="forget")

    SECURE_MESSAGE_RECEIVED = ready.to(None, on="route_received") | locked.to(None)
    SECURE_MESSAGE_SENT = ready.to(None, on="route_sent") | locked.to(None)
    SECURE_MESSAGE_FAILED = ready.to(None, on="route_failed") | locked.to(None)
    SECURE_MESSAGE_CHANGED = ready.to(None, on="route_changed") | locked.to(None)
    RECEIPT_RECEIVED = ready.to(None, on="route_receipt") | locked.to(None)
    PEER_TYPING = ready.to(None, on="route_typing") | locked.to(None)
    SIGNALING_CONNECTED = ready.to(None, on="flush") | locked.to(None)
    CONTACT_SELECTED = ready.to(None, on="open_selected") | locked.to(None)
    GROUP_SELECTED = ready.to(None, on="open_group") | locked.to(None)
    GROUP_CHANGED = ready.to(None, on="group_changed") | locked.to(None)
    NOTIFICATION_CLICKED = ready.to(None, on="open_clicked") | locked.to(None)
    CONTACT_BLOCKED = ready.to(None, on="contacts_blocked") | locked.to(None)
    CONTACT_RENAMED = ready.to(None, on="contacts_changed") | locked.to(None)
    CONTACT_REMOVED = ready.to(None, on="contacts_changed") | locked.to(None)
    CONTACT_ADDED = ready.to(None, on="contacts_changed") | locked.to(None)
    KEY_CHANGED = ready.to(None) | locked.to(None)
    KEY_ACCEPTED = ready.to(None) | locked.to(None)
    UNREADABLE_MESSAGE = ready.to(None, on="unreadable") | locked.to(None)

    # what the service reports
    OPENED = ready.to(None, on="route_opened") | locked.to(None)
    CLOSED = ready.to(None, on="route_closed") | locked.to(None)
    CHANGED = ready.to(None) | locked.to(None)

    # the UI's commands
    OPEN = ready.to(None, on="request_open")
    CLOSE = ready.to(None, on="request_close")
    SEND = ready.to(None, on="request_send")
    EDIT = ready.to(None, on="request_edit")
    DELETE = ready.to(None, on="request_delete")
    RETRY = ready.to(None, on="request_retry")
    READ = ready.to(None, on="request_read")
    TYPING = ready.to(None, on="request_typing")
    OLDER = ready.to(None, on="request_older")

    def __init__(self, service: ChatService, **kw: Any):
        self.service = service
        self._commands: deque[tuple[str, Callable[[], Awaitable[Any]]]] = deque()
        self._worker: Any = None
        super().__init__(**kw)

    def service_ready(self, **_: Any) -> bool:
        return self.service.ready

    # ------------------------------------------------------------------ lifecycle
    def load(self, **_: Any) -> None:
        spawn_task(self._guarded("load", self.service.load), name="chat:load")
        spawn_task(self._guarded("flush", self.service.flush), name="chat:flush")

    def forget(self, **_: Any) -> None:
        self._commands.clear()
        actor = self.actor
        system = getattr(actor, "system", None)
        for child in list(getattr(actor, "children", ())):
            if system is not None and child in system:
                system.unregister(child)
        self.service.forget()

    def flush(self, **_: Any) -> None:
        spawn_task(self._guarded("flush", self.service.flush), name="chat:flush")

    # ------------------------------------------------------------------ to the conversations
    async def _route(self, conversation: object, event: str, **data: Any) -> None:
        if not isinstance(conversation, str) or self.actor is None:
            return
        actor_id = conversation_actor_id(conversation)
        if actor_id not in self.actor.children:
            await self.actor.spawn(ConversationMachine(self.service, conversation), actor_id, type="conversation")
        self.actor.send_to(actor_id, event, **data)

    async def route_received(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        if p.get("kind") == "text":
            await self._route(p.get("peer"), "RECEIVED", message_id=p.get("id"))

    async def route_sent(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        await self._route(p.get("peer"), "STATUS", message_id=p.get("id"), value="sent")

    async def route_failed(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        await self._route(p.get("peer"), "STATUS", message_id=p.get("id"), value="failed", reason=p.get("reason"))

    async def route_changed(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        await self._route(p.get("peer"), "CHANGED", message_id=p.get("id"), change=p.get("change"))

    async def route_receipt(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        await self._route(p.get("peer"), "RECEIPT", kind=p.get("kind"), ids=p.get("ids"))

    async def route_typing(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        await self._route(p.get("peer"), "TYPING", author=p.get("author"))

    async def route_opened(self, conversation: str = "", **_: Any) -> None:
        await self._route(conversation, "OPENED")

    async def route_closed(self, conversation: str = "", **_: Any) -> None:
        await self._route(conversation, "CLOSED")

    async def contacts_changed(self, **_: Any) -> None:
        await self.service.contacts_changed()

    async def contacts_blocked(self, **_: Any) -> None:
        await self.service.contacts_changed(blocking=True)

    def unreadable(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        self.service.unreadable(p.get("peer"), p.get("reason"))

    def open_selected(self, bus_event: Event | None = None, **_: Any) -> None:
        user_id = bus_payload(bus_event).get("user_id")
        self._queue("open", lambda: self.service.open(user_id))

    def open_group(self, bus_event: Event | None = None, **_: Any) -> None:
        group = bus_payload(bus_event).get("group")
        self._queue("open", lambda: self.service.open(group))

    def group_changed(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        spawn_task(self._guarded("group", lambda: self.service.group_changed(p.get("group"), p.get("change"))),
                   name="chat:group")

    def open_clicked(self, bus_event: Event | None = None, **_: Any) -> None:
        conversation = bus_payload(bus_event).get("conversation")
        self._queue("open", lambda: self.service.open(conversation))

    # ------------------------------------------------------------------ the UI's commands
    def _queue(self, operation: str, work: Callable[[], Awaitable[Any]]) -> None:
        self._commands.append((operation, work))
        if self._worker is None:
            self._worker = spawn_task(self._drain(), name="chat:commands")

    async def _drain(self) -> None:
        try:
            while self._commands:
                operation, work = self._commands.popleft()
                await self._guarded(operation, work)
        finally:
            self._worker = None

    async def _guarded(self, operation: str, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            await work()
        except ChatKernelError as exc:  # shown by the window; nothing was changed
            self.service.failed(operation, exc)

    def request_open(self, conversation: str = "", **_: Any) -> None:
        self._queue("open", lambda: self.service.open(conversation))

    def request_close(self, conversation: str = "", **_: Any) -> None:
        async def close() -> None:
            self.service.close(conversation)
        self._queue("close", close)

    def request_send(self, conversation: str = "", text: str = "", reply_to: str | None = None, **_: Any) -> None:
        self.service.last_error = None
        self._queue("send", lambda: self.service.send(conversation, text, reply_to=reply_to))

    def request_edit(self, conversation: str = "", message_id: str = "", text: str = "", **_: Any) -> None:
        self._queue("edit", lambda: self.service.edit(conversation, message_id, text))

    def request_delete(self, conversation: str = "", message_id: str = "", **_: Any) -> None:
        self._queue("delete", lambda: self.service.delete(conversation, message_id))

    def request_retry(self, conversation: str = "", message_id: str = "", **_: Any) -> None:
        self._queue("retry", lambda: self.service.retry(conversation, message_id))

    def request_read(self, conversation: str = "", up_to: str | None = None, **_: Any) -> None:
        self._queue("read", lambda: self.service.read(conversation, up_to))

    def request_typing(self, conversation: str = "", **_: Any) -> None:
        self._queue("typing", lambda: self.service.typing(conversation))

    def request_older(self, conversation: str = "", **_: Any) -> None:
        self._queue("older", lambda: self.service.older(conversation))
