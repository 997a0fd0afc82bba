"""What messaging says about a conversation, as the chat applies it: an arrival, our message
sent or failed, a receipt, an edit or deletion, an unreadable message, typing. Called by the
conversation actors, one event at a time per conversation; none of it raises.

Kept apart from :mod:`features.chat.service` (the API a person scripts and the UI calls) so that
each module holds one direction of the traffic."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chatkernel import spawn_task

from . import events as ev
from ._api import ContactsAPI, IdentityAPI, MessagingAPI
from ._config import ChatConfig
from ._groups import GroupDirectory, is_group
from ._window import Conversation

__all__ = ["IncomingMixin"]

_ORDER = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
#: What a window says when messaging dropped a message (its reason: features/messaging).
_UNREADABLE = {
    "authentication": "A message from {name} was altered on the way and was dropped (it failed authentication).",
    "duplicate": "A message from {name} came again (a replay) and was dropped.",
    "identity_mismatch": "A message claiming to be from {name} was signed by other keys and was dropped.",
    "other": "A message from {name} could not be read and was dropped ({reason}).",
}


class IncomingMixin:
    """The receiving half of :class:`~features.chat.service.ChatService`."""

    identity: IdentityAPI
    contacts: ContactsAPI
    messaging: MessagingAPI
    config: ChatConfig
    log: logging.Logger
    groups: GroupDirectory
    stats: dict[str, int]
    _conversations: dict[str, Conversation]
    _unread: dict[str, int]
    _waiters: list[tuple[str | None, asyncio.Future[dict[str, Any]]]]
    _to_deliver: dict[str, list[str]]
    _receipts: asyncio.Task[None] | None

    # provided by the service
    @property
    def ready(self) -> bool: ...  # pragma: no cover

    def _say(self, spec: Any, payload: dict[str, Any]) -> None: ...  # pragma: no cover

    def _blocked(self, peer: str) -> bool: ...  # pragma: no cover

    def _answers(self, peer: str) -> bool: ...  # pragma: no cover

    def title(self, conversation: str) -> str: ...  # pragma: no cover

    def member_name(self, user_id: object) -> str: ...  # pragma: no cover

    def _window(self, peer: str) -> Conversation: ...  # pragma: no cover

    def _loaded(self, peer: str, *message_ids: str) -> Conversation | None: ...  # pragma: no cover

    def _from_row(self, peer: str, row: dict[str, Any]) -> dict[str, Any]: ...  # pragma: no cover

    async def _quoted(self, peer: str, messages: list[dict[str, Any]],
                      window: Conversation | None = None) -> list[dict[str, Any]]: ...  # pragma: no cover

    async def _find(self, peer: str, message_id: str) -> dict[str, Any] | None: ...  # pragma: no cover

    async def _bring_in(self, window: Conversation, message_id: str) -> None: ...  # pragma: no cover

    async def _requote(self, window: Conversation | None, target_id: str) -> None: ...  # pragma: no cover

    def _set_unread(self, peer: str, unread: int) -> None: ...  # pragma: no cover

    async def _recount(self) -> dict[str, int]: ...  # pragma: no cover

    # ------------------------------------------------------------------ what messaging says
    async def received(self, peer: str, message_id: str) -> None:
        if not self.ready:
            return
        if self._blocked(peer):
            self.stats["ignored_blocked"] += 1
            self.log.info("message %s from blocked %s: stored, not shown", message_id, peer[:8])
            return
        if is_group(peer) and peer not in self.groups:  # its GROUP_CHANGED may still be on the bus
            await self.groups.refresh(self.messaging, peer)
        row = await self.messaging.message(peer, message_id, direction="in")
        if row is None:
            return
        author = str(row.get("author") or peer) if is_group(peer) else peer
        if is_group(peer) and self.contacts.is_blocked(author):
            self.stats["ignored_blocked"] += 1
            self.log.info("message %s from blocked %s in %s: stored, not shown", message_id, author[:8], peer[:14])
            return
        window = self._loaded(peer, message_id)
        message = (await self._quoted(peer, [self._from_row(peer, row)], window))[0]
        self.stop_typing(peer, author)
        if window is not None:
            window.put(message)
            window.tell("upsert", message=message)
        self.stats["received"] += 1
        if message["status"] == "received":
            self._set_unread(peer, self._unread.get(peer, 0) + 1)
        self._say(ev.MESSAGE_RECEIVED, {"conversation": peer, "peer": author, "id": message_id,
                                        "sent_at": message["sent_at"]})
        for wanted, waiter in list(self._waiters):
            if wanted in (None, peer) and not waiter.done():
                waiter.set_result(message)
        if self.config.delivery_receipts and self._answers(peer):
            self._to_deliver.setdefault(peer, []).append(message_id)
            if self._receipts is None:
                self._receipts = spawn_task(self._send_receipts(), name="chat:receipts")

    async def _send_receipts(self) -> None:
        """One ``delivered`` receipt per peer for a burst of messages."""
        try:
            await asyncio.sleep(0)
            while self._to_deliver:
                peer, ids = self._to_deliver.popitem()
                for start in range(0, len(ids), 256):
                    try:
                        await self.messaging.deliver_receipt(peer, ids[start:start + 256])
                    except Exception as exc:  # noqa: BLE001 - a receipt is a courtesy: logged, never retried
                        self.log.info("delivery receipt to %s not sent: %s", peer[:8], type(exc).__name__)
        finally:
            self._receipts = None

    async def status(self, peer: str, message_id: str, status: str, reason: str | None = None) -> None:
        """Ours moved on (``sent`` or ``failed``)."""
        if not self.ready:
            return
        window = self._loaded(peer, message_id)
        if window is not None:
            message = window.by_id.get(message_id)
            if message is None:
                await self._bring_in(window, message_id)  # as stored: this status or further
            elif status == "failed" or _ORDER.get(status, 0) > _ORDER.get(message["status"], 0):
                window.put({**message, "status": status, "reason": reason})
                window.tell("upsert", message=window.by_id[message_id])
        if status == "sent":
            self._say(ev.MESSAGE_SENT, {"conversation": peer, "id": message_id})
        else:
            self._say(ev.MESSAGE_FAILED, {"conversation": peer, "id": message_id, "reason": str(reason)})

    async def receipt(self, peer: str, kind: str, ids: list[str]) -> None:
        """Ours were delivered (read) there; in a group messaging says so once every member's
        receipt does (a message's status is its slowest member's)."""
        if not self.ready or kind not in ("delivered", "read") or not ids:
            return
        window = self._loaded(peer, *ids)
        if window is not None:
            for message_id in ids:
                message = window.by_id.get(message_id)
                if message is None:  # e.g. sent while the window loaded, its "sent" skipped by this receipt
                    await self._bring_in(window, message_id)
                elif _ORDER.get(kind, 0) > _ORDER.get(message["status"], 0):
                    window.put({**message, "status": kind})
                    window.tell("upsert", message=window.by_id[message_id])
        spec = ev.MESSAGE_DELIVERED if kind == "delivered" else ev.MESSAGE_READ
        self._say(spec, {"conversation": peer, "ids": list(ids)})

    async def changed(self, peer: str, message_id: str, change: str) -> None:
        if not self.ready or self._blocked(peer):
            return
        window = self._loaded(peer, message_id)
        if window is not None and message_id in window.by_id:
            found = await self._find(peer, message_id)
            if found is not None:
                message = (await self._quoted(peer, [found], window))[0]
                window.put(message)
                window.tell("upsert", message=message)
        await self._requote(window, message_id)
        if change == "deleted" and self._unread.get(peer):
            self._set_unread(peer, (await self._recount()).get(peer, 0))
        spec = ev.MESSAGE_EDITED if change == "edited" else ev.MESSAGE_DELETED
        self._say(spec, {"conversation": peer, "id": message_id})

    def unreadable(self, peer: object, reason: object) -> None:
        """A message from ``peer`` was dropped by messaging: the windows showing them say so."""
        if not isinstance(peer, str) or not self.ready:
            return
        self.stats["unreadable"] += 1
        window = self._conversations.get(peer)
        if window is not None:
            window.tell("notice", text=_UNREADABLE.get(str(reason), _UNREADABLE["other"]).format(
                name=self.title(peer), reason=reason))

    def peer_typing(self, peer: str, author: object = None) -> None:
        """The peer (in a group, the member ``author``) is typing: said to the windows until
        ``typing_timeout_s`` passes without another notice, or their message arrives."""
        if not self.ready or not self.config.typing_indicators or self._blocked(peer):
            return
        who = author if is_group(peer) else peer
        if not isinstance(who, str) or not who or who == self.identity.user_id or self.contacts.is_blocked(who):
            return
        window = self._window(peer)
        old = window.typers.pop(who, None)
        if old is not None:
            old.cancel()
        window.typers[who] = asyncio.get_running_loop().call_later(self.config.typing_timeout_s,
                                                                   self._typing_over, window, who)
        if old is None:
            window.tell("typing", active=True, names=self.typing_names(window.id))
            self._say(ev.TYPING_STARTED, {"conversation": peer, "peer": who})

    def typing_names(self, conversation: str) -> list[str]:
        """Who is typing in ``conversation``, as the window names them."""
        window = self._conversations.get(conversation)
        if window is None:
            return []
        if not is_group(conversation):
            return [self.title(conversation)] if window.typing else []
        return [self.member_name(who) for who in window.typers]

    def _typing_over(self, window: Conversation, who: str) -> None:
        timer = window.typers.pop(who, None)
        if timer is not None:
            timer.cancel()
        window.tell("typing", active=window.typing, names=self.typing_names(window.id))

    def stop_typing(self, peer: str, author: str | None = None) -> None:
        """Their message arrived: they are no longer typing it."""
        window = self._conversations.get(peer)
        who = author or peer
        if window is not None and who in window.typers:
            self._typing_over(window, who)
