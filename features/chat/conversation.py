"""One actor per conversation (the design's conversation machine): closed <-> open.

The chat actor spawns it the first time the conversation has news or is opened, and forwards
what messaging says about it; the actor's mailbox puts those in order, one at a time, so a
receipt never overtakes the message it is for, while other conversations go on in parallel.
The work is the service's (:class:`~features.chat.service.ChatService`); the machine is what
the explorer shows: which conversations are open, and what each one last heard.
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from chatkernel import Machine

from .service import ChatService

__all__ = ["ConversationMachine", "conversation_actor_id"]


def conversation_actor_id(conversation: str) -> str:
    return f"conversation-{conversation}"


class ConversationMachine(Machine):
    closed = State(initial=True)
    open = State()

    OPENED = closed.to(open) | open.to(None)
    CLOSED = open.to(closed) | closed.to(None)
    RECEIVED = closed.to(None, on="received") | open.to(None, on="received")
    STATUS = closed.to(None, on="status") | open.to(None, on="status")
    RECEIPT = closed.to(None, on="receipt") | open.to(None, on="receipt")
    CHANGED = closed.to(None, on="changed") | open.to(None, on="changed")
    TYPING = closed.to(None, on="typing") | open.to(None, on="typing")

    def __init__(self, service: ChatService, conversation: str, **kw: Any):
        self.service = service
        self.conversation = conversation
        super().__init__(**kw)

    async def received(self, message_id: str = "", **_: Any) -> None:
        await self.service.received(self.conversation, message_id)

    async def status(self, message_id: str = "", value: str = "sent", reason: str | None = None, **_: Any) -> None:
        await self.service.status(self.conversation, message_id, value, reason)

    async def receipt(self, kind: str = "", ids: list[str] | None = None, **_: Any) -> None:
        await self.service.receipt(self.conversation, kind, list(ids or ()))

    async def changed(self, message_id: str = "", change: str = "edited", **_: Any) -> None:
        await self.service.changed(self.conversation, message_id, change)

    def typing(self, author: str | None = None, **_: Any) -> None:
        self.service.peer_typing(self.conversation, author)
