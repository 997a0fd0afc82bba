"""Conversations: what a person reads and writes, on top of messaging's sealed delivery.

Messaging stores every message (sealed on the wire, encrypted on disk) and applies edits,
deletions and receipts; this service keeps each conversation's window in memory (the newest
page, older pages on demand), counts what is unread, sends the receipts, and keeps what could
not be sealed yet::

    message = await chat.send(bob, "hello **Bob**")      # status queued -> sent -> delivered -> read
    page = await chat.open(bob)                           # the newest page_size messages
    older = await chat.older(bob)                         # the page before
    await chat.read(bob)                                  # theirs read; a read receipt goes to Bob
    incoming = await chat.next_message(bob, timeout=30)   # await the next one from Bob
    hits = await chat.search(bob, "flat keys")
    text = await chat.export(bob)                         # the whole conversation as Markdown

A message written while offline to someone without a session yet, or refused by the secure
core (a changed key), is kept in ``chat_unsent`` (``queued`` or ``failed`` with its reason) and
sent at the next connection or by ``retry``; its id makes the send happen once.

A conversation is a contact's user id, or a group's id (``"group:"`` and 32 hex digits, made by
``messaging.create_group``): the same calls, with each message's ``author`` the member who
wrote it, its tick the least advanced of the members' receipts, and a group we left (or were
removed from) read-only.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import ChainMap
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chatkernel import ChatKernelError
from chatkernel.relay.protocol import is_message_id, is_user_id

from . import events as ev
from ._api import ContactsAPI, IdentityAPI, MessagingAPI, PersistenceAPI
from ._config import ChatConfig
from ._groups import GroupDirectory, is_group
from ._incoming import IncomingMixin
from ._window import Conversation, Watcher
from .errors import (
    ContactBlockedError,
    GroupClosedError,
    InvalidChatInputError,
    NotAContactError,
    NotReadyError,
    UnknownGroupError,
    UnknownMessageError,
)

__all__ = ["ChatService", "Conversation"]

Emit = Callable[..., Any]
Listener = Callable[[str, dict[str, Any]], None]

#: Errors that mean "not now": the message waits for the connection (class names along the
#: error's MRO: features never import each other; messaging's and signaling's).
_WAIT_FOR_CONNECTION = frozenset({"OfflineError", "NotConnectedError", "RelayTransportError"})
_PREVIEW_CHARS = 140
_UNSENT_COLUMNS = "id, body, reply_to, created_at, status, reason"  # as _from_unsent reads them
_EXPORT_PAGE = 1_000
_PAGE_READS = 3  # a page read again when more moved meanwhile than a window notes
_CATCH_UP_ROUNDS = 16  # reads of what moved while a page was read, at most
_HIDDEN_PAGES = 20  # pages one older() reads, at most, to find one with a message to show


def _oldest(rows: list[dict[str, Any]], default: int | None = None) -> int | None:
    """The seq to page back from: the oldest row read (shown or not: a blocked member's are not)."""
    return min((m["seq"] for m in rows if m["seq"] is not None), default=default)


def _ms() -> int:
    return int(time.time() * 1000)


def _is(exc: BaseException, *names: str) -> bool:
    return any(cls.__name__ in names for cls in type(exc).__mro__)


def _preview(text: str, deleted: bool = False) -> str:
    if deleted:
        return "This message was deleted"
    from widgets import plain_text  # the Markdown parser loads with the first preview, not at import

    try:
        flat = " ".join(plain_text(text).split())
    except ChatKernelError:
        flat = " ".join(text.split())
    return flat if len(flat) <= _PREVIEW_CHARS else flat[:_PREVIEW_CHARS - 1] + "…"


class ChatService(IncomingMixin):
    """The scripting API and the UI's: every method validates its input first and raises a
    :class:`~features.chat.errors.ChatError` naming what is wrong before anything is written."""

    def __init__(self, db: PersistenceAPI, identity: IdentityAPI, contacts: ContactsAPI, messaging: MessagingAPI,
                 config: ChatConfig | None = None, emit: Emit | None = None, *,
                 logger: logging.Logger | None = None):
        self.db = db
        self.identity = identity
        self.contacts = contacts
        self.messaging = messaging
        self.config = config or ChatConfig()
        self._emit = emit
        self.log = logger or logging.getLogger("chatkernel.features.chat")
        self.listener: Listener | None = None
        self._conversations: dict[str, Conversation] = {}
        self._unread: dict[str, int] = {}
        self._unread_moves = 0  # changes of a count, to tell whether one moved during a read of them
        self._waiters: list[tuple[str | None, asyncio.Future[dict[str, Any]]]] = []
        self._to_deliver: dict[str, list[str]] = {}
        self._receipts: asyncio.Task[None] | None = None
        self._typing_sent: dict[str, float] = {}
        self._titles: dict[str, str] = {}
        self.groups = GroupDirectory()
        self._group_reads: asyncio.Lock = asyncio.Lock()  # GROUP_CHANGED read in the order said
        self._flushing: asyncio.Lock = asyncio.Lock()
        self.last_error: tuple[str, str] | None = None
        self.stats = {"sent": 0, "received": 0, "unsent": 0, "ignored_blocked": 0, "unreadable": 0}

    # ------------------------------------------------------------------ readiness
    @property
    def ready(self) -> bool:
        return self.db.state == "open" and self.identity.user_id is not None

    def _require_ready(self) -> str:
        user_id = self.identity.user_id
        if self.db.state != "open" or user_id is None:
            raise NotReadyError()
        return user_id

    def _say(self, spec: Any, payload: dict[str, Any]) -> None:
        if self._emit is not None:
            self._emit(spec, payload)

    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    def failed(self, operation: str, exc: BaseException) -> None:
        """A command from the UI was refused: kept for the window to show."""
        self.last_error = (operation, str(exc))
        self.log.info("%s refused: %s", operation, exc)
        self._notify("CHANGED")

    async def load(self) -> None:
        """After the log-in: the unread counts (contacts shows them) and the unsent messages."""
        self._require_ready()
        await self.groups.load(self.messaging)
        self._set_counts(await self._recount())
        rows = await self.db.fetchall("SELECT count(*) FROM chat_unsent")
        self.stats["unsent"] = int(rows[0][0])

    def forget(self) -> None:
        """Log-out or lock: nothing of this profile stays in memory."""
        for conversation in self._conversations.values():
            conversation.stop_typing_timers()
            conversation.tell("reset", messages=[], has_older=False)
        self._conversations.clear()
        self._unread.clear()
        self._titles.clear()
        self.groups.clear()
        self._to_deliver.clear()
        self._typing_sent.clear()
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(NotReadyError())
        self._waiters.clear()

    # ------------------------------------------------------------------ checking input
    def _peer(self, conversation: object) -> str:
        """A well-formed conversation id: a user id not ours, or a group id (known or not)."""
        me = self._require_ready()
        if is_group(conversation):
            return str(conversation)
        if not is_user_id(conversation):
            raise InvalidChatInputError("conversation", "must be a contact's user id or a group id "
                                        f"('group:' and 32 hex digits), got {conversation!r}")
        if conversation == me:
            raise InvalidChatInputError("conversation", "is your own user id")
        return str(conversation)

    async def _target(self, conversation: object, *, write: bool = False) -> str:
        """:meth:`_peer`, then a group not known yet is read from messaging (its
        ``GROUP_CHANGED`` may still be on the bus); with ``write``, :meth:`_writable`."""
        peer = self._peer(conversation)
        if is_group(peer) and peer not in self.groups and await self.groups.refresh(self.messaging, peer) is None:
            raise UnknownGroupError(peer)
        return self._writable(peer) if write else peer

    def _writable(self, conversation: object) -> str:
        peer = self._peer(conversation)
        if is_group(peer):
            state = self.groups.state(peer)
            if state is None:
                raise UnknownGroupError(peer)
            if state != "active":
                raise GroupClosedError(peer, state, self.title(peer))
            return peer
        if not self.contacts.is_contact(peer):
            raise NotAContactError(peer)
        if self.contacts.is_blocked(peer):
            raise ContactBlockedError(peer, self.title(peer))
        return peer

    def _answers(self, peer: str) -> bool:
        """Whether receipts go to ``peer``: an active group, or a contact not blocked."""
        if is_group(peer):
            return self.groups.state(peer) == "active"
        return self.contacts.is_contact(peer) and not self.contacts.is_blocked(peer)

    def _blocked(self, peer: str) -> bool:
        """A blocked contact (a group is never blocked: contacts apply to pairwise conversations)."""
        return not is_group(peer) and self.contacts.is_blocked(peer)

    def _text(self, text: object) -> str:
        if not isinstance(text, str):
            raise InvalidChatInputError("text", f"must be a str, got {type(text).__name__}")
        if not text.strip():
            raise InvalidChatInputError("text", "is empty")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidChatInputError("text", "holds a lone surrogate (not valid Unicode text)") from None
        if size > self.config.max_body_bytes:
            raise InvalidChatInputError("text", f"is {size} bytes, over the limit of {self.config.max_body_bytes}")
        return text

    @staticmethod
    def _message_id(value: object, field: str = "message_id") -> str:
        if not is_message_id(value):
            raise InvalidChatInputError(field, f"is not a message id, got {value!r}")
        return str(value)

    # ------------------------------------------------------------------ names
    def title(self, conversation: str) -> str:
        """The group's name, the contact's name, or a short id for someone not (or no longer)
        in the list."""
        if is_group(conversation):
            return self.groups.name(conversation) or f"{conversation[6:14]}… (unknown group)"
        title = self._titles.get(conversation)
        if title is None:
            title = f"{conversation[:8]}… (not a contact)"
            try:
                if self.contacts.is_contact(conversation):
                    title = str(self.contacts.get(conversation)["name"])
            except ChatKernelError:
                return title  # the list is loading: not remembered
            self._titles[conversation] = title
        return title

    def member_name(self, user_id: object) -> str:
        """A group member as a message or a typing line names them: "You" (our display name), a
        contact's name, or a short id ("abcd1234…")."""
        if not isinstance(user_id, str) or not user_id:
            return "Someone"
        if user_id == self.identity.user_id:
            return self._me()
        try:
            if is_user_id(user_id) and self.contacts.is_contact(user_id):
                return self.title(user_id)
        except ChatKernelError:  # the list is loading
            pass
        return f"{user_id[:8]}…"

    def group(self, conversation: str) -> dict[str, Any] | None:
        """What chat knows of a group (a copy of ``messaging.group``), or None."""
        info = self.groups.get(conversation)
        return None if info is None else {**info, "members": list(info.get("members", ()))}

    def is_group(self, conversation: object) -> bool:
        return is_group(conversation)

    async def group_changed(self, group: object, change: object = None) -> None:
        """``GROUP_CHANGED``: read the group again; the windows showing it redraw."""
        if not is_group(group) or not self.ready:
            return
        async with self._group_reads:
            await self.groups.refresh(self.messaging, str(group))
        window = self._conversations.get(str(group))
        if window is not None:
            window.tell("group", change=change, info=self.group(str(group)))
        self._notify("CHANGED")

    async def contacts_changed(self, blocking: bool = False) -> None:
        """A contact was added, renamed, removed or (un)blocked: names are read again; after a
        (un)block, ``blocking``, the unread counts too, and open group windows show (or stop
        showing) that person's messages."""
        self._titles.clear()
        if not blocking or not self.ready:
            return
        self._set_counts(await self._recount())
        for window in [w for w in self._conversations.values() if is_group(w.id) and w.loaded]:
            window.loaded = False
            await self._fill(window)
            window.tell("reset", messages=list(window.messages), has_older=window.has_older)

    def _me(self) -> str:
        return self.identity.display_name or "You"

    # ------------------------------------------------------------------ message dicts
    def _author(self, peer: str, row: Mapping[str, Any]) -> str:
        if row["direction"] == "out":
            return self._me()
        return self.member_name(row.get("author")) if is_group(peer) else self.title(peer)

    def _from_row(self, peer: str, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "conversation": peer, "direction": row["direction"],
                "author": self._author(peer, row), "author_id": row["author"], "text": row["body"],
                "sent_at": int(row["sent_at"]), "status": row["status"],
                "edited": row["edited_at"] is not None and not row["deleted"], "deleted": bool(row["deleted"]),
                "reply_to": row["reply_to"], "seq": row["seq"], "reason": None}

    def _from_unsent(self, peer: str, row: tuple[Any, ...]) -> dict[str, Any]:
        message_id, body, reply_to, created_at, status, reason = row
        return {"id": message_id, "conversation": peer, "direction": "out", "author": self._me(),
                "author_id": self.identity.user_id, "text": body,
                "sent_at": int(created_at), "status": status, "edited": False, "deleted": False,
                "reply_to": reply_to, "seq": None, "reason": reason}

    async def _quote(self, peer: str, message: dict[str, Any], known: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """``reply_to`` as ``{id, author, preview}`` (the id alone in the row)."""
        target_id = message["reply_to"]
        if not isinstance(target_id, str):
            return message
        target = known.get(target_id)
        if target is None:
            row = await self.messaging.message(peer, target_id)
            target = self._from_row(peer, row) if row is not None else None
        quote = ({"id": target_id, "author": "", "preview": "a message not in this conversation"} if target is None
                 else {"id": target_id, "author": target["author"],
                       "preview": _preview(target["text"], target["deleted"])})
        return {**message, "reply_to": quote}

    async def _quoted(self, peer: str, messages: list[dict[str, Any]],
                      window: Conversation | None = None) -> list[dict[str, Any]]:
        known: Mapping[str, dict[str, Any]] = {m["id"]: m for m in messages}
        if window is not None:
            known = ChainMap(known, window.by_id)  # no copy of a 10,000-message window
        return [await self._quote(peer, m, known) if isinstance(m["reply_to"], str) else m for m in messages]

    async def _unsent(self, peer: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(f"SELECT {_UNSENT_COLUMNS} FROM chat_unsent WHERE peer = ? "
                                      "ORDER BY created_at, rowid", (peer,))
        return [self._from_unsent(peer, row) for row in rows]

    # ------------------------------------------------------------------ conversations
    def _window(self, peer: str) -> Conversation:
        conversation = self._conversations.get(peer)
        if conversation is None:
            conversation = self._conversations[peer] = Conversation(peer)
        return conversation

    def _loaded(self, peer: str, *message_ids: str) -> Conversation | None:
        """``peer``'s window if it holds its page, to apply a change of ``message_ids`` to; a
        page being read notes them, to read them again once it is in."""
        window = self._conversations.get(peer)
        if window is None:
            return None
        window.note(*message_ids)
        return window if window.loaded else None

    async def _fill(self, conversation: Conversation) -> None:
        async with conversation.paging:
            if conversation.loaded:  # filled while this one waited
                return
            peer = conversation.id
            conversation.reading = True
            try:
                for _ in range(_PAGE_READS):  # again only if more moved meanwhile than a window notes
                    conversation.overflow = False
                    conversation.missed.clear()
                    page = await self.messaging.history(peer, limit=self.config.page_size + 1)
                    rows = [self._from_row(peer, row) for row in page[-self.config.page_size:]]
                    messages = self._shown(await self._quoted(peer, rows + await self._unsent(peer)))
                    conversation.has_older = len(page) > self.config.page_size
                    conversation.oldest_seq = _oldest(rows)
                    conversation.messages, conversation.by_id = [], {}
                    for message in messages:
                        conversation.put(message)
                    if await self._catch_up(conversation, newer=True):
                        break
            finally:
                conversation.reading = False
                conversation.missed.clear()
                conversation.overflow = False
            conversation.loaded = True

    async def _catch_up(self, window: Conversation, *, newer: bool, among: set[str] | None = None) -> bool:
        """Read again what moved while a page was read (its rows may predate that): a message
        the window holds is replaced, a gone one leaves, and (``newer``) new ones are added;
        ``among``: only these can be behind. False if more moved than the window could note
        (``among`` is then read again whole)."""
        for _ in range(_CATCH_UP_ROUNDS):  # each round's reads may miss what moves during them
            if window.overflow:
                if among is None:
                    return False
                window.overflow = False
                missed = set(among)
            else:
                missed = window.take_missed() & among if among is not None else window.take_missed()
            if not missed:
                return True
            newest = max((m["seq"] for m in window.messages if m["seq"] is not None), default=0)
            fresh = []
            for message_id in sorted(missed):
                found = await self._find(window.id, message_id)
                if found is None or self._hidden(found):
                    window.drop(message_id)
                elif message_id in window.by_id or (newer and (found["seq"] is None or found["seq"] > newest)):
                    fresh.append(found)
            fresh.sort(key=lambda m: (m["seq"] is None, m["seq"] or 0, m["sent_at"]))
            for message in await self._quoted(window.id, fresh, window):
                window.put(message)
        self.log.info("conversation %s: still moving after %d catch-up reads", window.id[:8], _CATCH_UP_ROUNDS)
        return True

    async def conversations(self) -> list[dict[str, Any]]:
        """Every conversation with messages, every contact and every group we are in:
        ``{conversation, title, group, contact, blocked, messages, unread, last_at}``, the most
        recent first (a group we left stays while it has messages)."""
        self._require_ready()
        seen: dict[str, dict[str, Any]] = {}
        for item in await self.messaging.conversations():
            seen[item["peer"]] = {"messages": item["messages"], "last_at": item["last_at"]}
        for peer, count, last in await self.db.fetchall("SELECT peer, count(*), max(created_at) FROM chat_unsent "
                                                        "GROUP BY peer"):
            known = seen.setdefault(peer, {"messages": 0, "last_at": 0})
            known["messages"] += int(count)
            known["last_at"] = max(known["last_at"], int(last))
        for contact in self._contacts():
            seen.setdefault(contact, {"messages": 0, "last_at": 0})
        for group in self.groups.all():
            if group.get("state") == "active":
                seen.setdefault(str(group["group"]), {"messages": 0, "last_at": 0})
        out = [{"conversation": peer, "title": self.title(peer), "group": is_group(peer),
                "contact": not is_group(peer) and self.contacts.is_contact(peer), "blocked": self._blocked(peer),
                "messages": info["messages"], "unread": self._unread.get(peer, 0), "last_at": info["last_at"]}
               for peer, info in seen.items()]
        return sorted(out, key=lambda c: (-c["last_at"], c["title"].casefold()))

    def _contacts(self, *, blocked: bool = False) -> list[str]:
        """Our contacts' user ids (``blocked``: the blocked ones); none while contacts loads."""
        try:
            return [c["user_id"] for c in self.contacts.list() if c["blocked"] or not blocked]
        except ChatKernelError:
            return []

    def _hidden(self, message: Mapping[str, Any]) -> bool:
        """A blocked member's message in a group: stored, never shown (as a blocked contact's is not)."""
        return (message["direction"] == "in" and is_group(message["conversation"])
                and self.contacts.is_blocked(message["author_id"]))

    def _shown(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in messages if not self._hidden(m)]

    async def open(self, conversation: str) -> list[dict[str, Any]]:
        """Open ``conversation`` in a window: its newest page (and what is unsent), oldest first."""
        peer = await self._target(conversation)
        window = self._window(peer)
        if not window.loaded:
            await self._fill(window)
        was_open, window.open = window.open, True
        window.tell("reset", messages=list(window.messages), has_older=window.has_older)
        if not was_open:
            self._say(ev.CONVERSATION_OPENED, {"conversation": peer})
            self._notify("OPENED", conversation=peer)
        return list(window.messages)

    def close(self, conversation: str) -> None:
        """Close it: its window leaves memory (the next open reads the newest page again)."""
        peer = self._peer(conversation)
        window = self._conversations.get(peer)
        if window is None or not window.open:
            return
        window.open = False
        if not window.watchers:
            self._conversations.pop(peer, None)
        self._say(ev.CONVERSATION_CLOSED, {"conversation": peer})
        self._notify("CLOSED", conversation=peer)

    def is_open(self, conversation: str) -> bool:
        window = self._conversations.get(conversation)
        return window is not None and window.open

    def messages(self, conversation: str) -> list[dict[str, Any]]:
        """What the open window holds, oldest first."""
        window = self._conversations.get(self._peer(conversation))
        return list(window.messages) if window is not None else []

    def watch(self, conversation: str, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher(kind, data)`` on every change (``reset``, ``prepend``, ``upsert``,
        ``remove``, ``typing``, ``notice``); returns the function that stops it."""
        window = self._window(self._peer(conversation))
        window.watchers.append(watcher)

        def stop() -> None:
            if watcher in window.watchers:
                window.watchers.remove(watcher)

        return stop

    async def older(self, conversation: str) -> list[dict[str, Any]]:
        """Load the page before the oldest loaded one into the window; the messages added."""
        peer = await self._target(conversation)
        window = self._window(peer)
        if not window.loaded:
            await self._fill(window)
            return list(window.messages)
        async with window.paging:
            added: list[dict[str, Any]] = []
            for _ in range(_HIDDEN_PAGES):  # past pages that hold only a blocked member's messages
                if added or not window.has_older or window.oldest_seq is None:
                    break
                added = await self._read_older(window)
        window.tell("prepend", messages=added, has_older=window.has_older)
        return added

    async def _read_older(self, window: Conversation) -> list[dict[str, Any]]:
        """One page before ``window.oldest_seq`` into the window (under its paging lock)."""
        peer = window.id
        window.reading = True
        try:
            page = await self.messaging.history(peer, limit=self.config.page_size + 1, before=window.oldest_seq)
            rows = [self._from_row(peer, row) for row in page[-self.config.page_size:]]
            window.oldest_seq = _oldest(rows, window.oldest_seq)
            added = [m for m in self._shown(await self._quoted(peer, rows, window)) if m["id"] not in window.by_id]
            window.messages[:0] = added
            window.by_id.update({m["id"]: m for m in added})
            # the newer messages were open to events all along: only this page's may be behind
            await self._catch_up(window, newer=False, among={m["id"] for m in added})
        finally:
            window.reading = False
            window.missed.clear()
            window.overflow = False
        window.has_older = len(page) > self.config.page_size
        return [window.by_id[m["id"]] for m in added if m["id"] in window.by_id]

    async def history(self, conversation: str, *, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` stored messages before ``seq`` ``before`` (the newest without it),
        oldest first, then (without ``before``) what is unsent."""
        peer = await self._target(conversation)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidChatInputError("limit", "must be an integer from 1 to 10000")
        if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
            raise InvalidChatInputError("before", "must be a message's seq (an integer)")
        rows = [self._from_row(peer, r) for r in await self.messaging.history(peer, limit=limit, before=before)]
        return await self._quoted(peer, rows + ([] if before is not None else await self._unsent(peer)))

    async def message(self, conversation: str, message_id: str) -> dict[str, Any]:
        peer = await self._target(conversation)
        message_id = self._message_id(message_id)
        window = self._conversations.get(peer)
        if window is not None and message_id in window.by_id:
            return window.by_id[message_id]
        found = await self._find(peer, message_id)
        if found is None:
            raise UnknownMessageError(peer, message_id)
        return (await self._quoted(peer, [found]))[0]

    async def _find(self, peer: str, message_id: str) -> dict[str, Any] | None:
        row = await self.messaging.message(peer, message_id)
        if row is not None:
            return self._from_row(peer, row)
        unsent = [m for m in await self._unsent(peer) if m["id"] == message_id]
        return unsent[0] if unsent else None

    async def preview(self, conversation: str, message_id: str) -> dict[str, str]:
        """For a notification: ``{title, author, text}`` with the text flattened and shortened."""
        message = await self.message(conversation, message_id)
        return {"title": self.title(message["conversation"]), "author": message["author"],
                "text": _preview(message["text"], message["deleted"])}

    def unread_counts(self) -> dict[str, int]:
        return {c: n for c, n in self._unread.items() if n}

    async def search(self, conversation: str, text: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Messages holding ``text`` (tombstones never match), oldest first."""
        peer = await self._target(conversation)
        if not isinstance(text, str) or not text.strip() or len(text) > 200:
            raise InvalidChatInputError("text", "must be 1 to 200 characters to search for")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000:
            raise InvalidChatInputError("limit", "must be an integer from 1 to 1000")
        rows = [self._from_row(peer, r) for r in await self.messaging.search(peer, text, limit=limit)]
        needle = text.casefold()
        unsent = [m for m in await self._unsent(peer) if needle in m["text"].casefold()]
        return await self._quoted(peer, rows + unsent)

    async def export(self, conversation: str) -> str:
        """The whole conversation as Markdown: a heading per day, each message under its author
        and time, replies quoted, tombstones marked. Read page by page, oldest last."""
        peer = await self._target(conversation)
        pages: list[list[dict[str, Any]]] = []
        before: int | None = None
        while True:
            page = await self.messaging.history(peer, limit=_EXPORT_PAGE, before=before)
            if not page:
                break
            pages.append([self._from_row(peer, row) for row in page])
            before = page[0]["seq"]
            if len(page) < _EXPORT_PAGE:
                break
        messages = [m for page in reversed(pages) for m in page] + await self._unsent(peer)
        messages = await self._quoted(peer, messages)
        heading = f"Group {self.title(peer)}" if is_group(peer) else f"Conversation with {self.title(peer)}"
        lines = [f"# {_md_text(heading)}", ""]
        day = None
        for message in messages:
            stamp = datetime.fromtimestamp(message["sent_at"] / 1000)
            if stamp.date() != day:
                day = stamp.date()
                lines += [f"## {day.isoformat()}", ""]
            marks = [message["status"]] if message["direction"] == "out" else []
            if message["edited"]:
                marks.append("edited")
            suffix = f" ({', '.join(marks)})" if marks else ""
            lines.append(f"**{_md_text(message['author'])}**, {stamp:%H:%M}{suffix}")
            lines.append("")
            quote = message["reply_to"]
            if isinstance(quote, dict):
                lines += [f"> {_md_text(quote['author'])}: {_md_text(quote['preview'])}", ""]
            lines += (["*This message was deleted.*"] if message["deleted"] else message["text"].splitlines() or [""])
            lines.append("")
        return "\n".join(lines)

    # ------------------------------------------------------------------ writing
    async def send(self, conversation: str, text: str, *, reply_to: str | None = None) -> dict[str, Any]:
        """Write to a contact or a group; the message, ``queued`` (or ``failed`` with its reason, kept for
        :meth:`retry`). It shows in an open window at once and moves on with the receipts."""
        peer = await self._target(conversation, write=True)
        text = self._text(text)
        if reply_to is not None:
            reply_to = self._message_id(reply_to, "reply_to")
            shown = self._conversations.get(peer)
            if (shown is None or reply_to not in shown.by_id) and await self._find(peer, reply_to) is None:
                raise UnknownMessageError(peer, reply_to)
        message_id = uuid.uuid4().hex
        message = {"id": message_id, "conversation": peer, "direction": "out", "author": self._me(),
                   "author_id": self.identity.user_id, "text": text,
                   "sent_at": _ms(), "status": "queued", "edited": False, "deleted": False, "reply_to": reply_to,
                   "seq": None, "reason": None}
        window = self._loaded(peer, message_id)
        if window is not None:  # shown before sealing: the relay's answer may come first
            message = (await self._quoted(peer, [message], window))[0]
            window.put(message)
            window.tell("upsert", message=message)
        try:
            await self.messaging.send(peer, text, message_id=message_id, reply_to=reply_to)
        except Exception as exc:
            if _is(exc, "InvalidMessageError"):
                self._unshow(peer, message_id)
                raise InvalidChatInputError("text", getattr(exc, "reason", str(exc))) from None
            return await self._keep_unsent(message, exc)
        self.stats["sent"] += 1
        window = self._loaded(peer, message_id)
        if window is not None and message_id not in window.by_id:  # the window loaded meanwhile
            await self._bring_in(window, message_id)
        current = self._current(peer, message)
        return (await self._quoted(peer, [current]))[0] if isinstance(current["reply_to"], str) else current

    def _current(self, peer: str, message: dict[str, Any]) -> dict[str, Any]:
        window = self._conversations.get(peer)
        return window.by_id.get(message["id"], message) if window is not None else message

    def _unshow(self, peer: str, message_id: str) -> None:
        window = self._loaded(peer, message_id)
        if window is not None and message_id in window.by_id:
            window.drop(message_id)
            window.tell("remove", id=message_id)

    async def _keep_unsent(self, message: dict[str, Any], exc: BaseException) -> dict[str, Any]:
        """Not sealed: keep it (``queued`` until the connection, or ``failed`` and why)."""
        waits = _is(exc, *_WAIT_FOR_CONNECTION)
        status, reason = ("queued", None) if waits else ("failed", _reason(exc))
        reply_to = message["reply_to"]["id"] if isinstance(message["reply_to"], dict) else message["reply_to"]
        await self.db.execute("INSERT OR REPLACE INTO chat_unsent (id, peer, body, reply_to, created_at, status, "
                              "reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (message["id"], message["conversation"], message["text"], reply_to,
                               message["sent_at"], status, reason))
        self.stats["unsent"] += 1
        self.log.info("message %s to %s kept unsent (%s): %s", message["id"], message["conversation"][:8], status,
                      type(exc).__name__)
        message = {**message, "status": status, "reason": reason}
        self._show(message)
        if status == "failed":
            self._say(ev.MESSAGE_FAILED, {"conversation": message["conversation"], "id": message["id"],
                                          "reason": str(reason)})
        return message

    async def _bring_in(self, window: Conversation, message_id: str) -> None:
        """Put ``message_id``, which the loaded ``window`` lacks, in it as stored, if it is newer
        than all the window holds (one sent or received while the window loaded: no event may
        come that would show it); an older one stays paged out."""
        found = await self._find(window.id, message_id)
        if found is None or self._hidden(found) or not window.loaded or message_id in window.by_id:
            return
        newest = max((m["seq"] for m in window.messages if m["seq"] is not None), default=0)
        if found["seq"] is not None and found["seq"] <= newest:
            return
        message = (await self._quoted(window.id, [found], window))[0]
        if window.loaded and message_id not in window.by_id:
            window.put(message)
            window.tell("upsert", message=message)

    def _show(self, message: dict[str, Any]) -> None:
        window = self._loaded(message["conversation"], message["id"])
        if window is not None:
            window.put(message)
            window.tell("upsert", message=message)

    async def _requote(self, window: Conversation | None, target_id: str) -> None:
        """Messages in the window quoting ``target_id`` show its new text (or its tombstone)."""
        if window is None or not window.loaded:
            return
        for message in list(window.messages):
            quote = message["reply_to"]
            if isinstance(quote, dict) and quote["id"] == target_id:
                fresh = await self._quote(window.id, {**message, "reply_to": target_id}, window.by_id)
                window.put(fresh)
                window.tell("upsert", message=fresh)

    async def flush(self) -> int:
        """Send what waits in ``chat_unsent`` as ``queued`` (oldest first); how many went.
        Stops at the first that still cannot go for lack of a connection."""
        if not self.ready:
            return 0
        sent = 0
        async with self._flushing:
            rows = await self.db.fetchall(f"SELECT peer, {_UNSENT_COLUMNS} FROM chat_unsent WHERE status = 'queued' "
                                          "ORDER BY created_at, rowid")
            for peer, *fields in rows:
                outcome = await self._send_unsent(peer, self._from_unsent(peer, tuple(fields)))
                if outcome == "waits":
                    break
                sent += outcome == "sent"
        return sent

    async def _send_unsent(self, peer: str, message: dict[str, Any]) -> str:
        if is_group(peer):
            if peer not in self.groups:
                await self.groups.refresh(self.messaging, peer)
            if self.groups.state(peer) != "active":
                return "kept"
        elif self.contacts.is_blocked(peer) or not self.contacts.is_contact(peer):
            return "kept"
        try:
            await self.messaging.send(peer, message["text"], message_id=message["id"], reply_to=message["reply_to"])
        except Exception as exc:
            if not _is(exc, "AlreadySentError"):  # else: sealed before a crash; only the row is left
                if _is(exc, *_WAIT_FOR_CONNECTION):
                    return "waits"
                reason = _reason(exc)
                await self.db.execute("UPDATE chat_unsent SET status = 'failed', reason = ? WHERE id = ?",
                                      (reason, message["id"]))
                failed = {**message, "status": "failed", "reason": reason}
                self._show((await self._quoted(peer, [failed], self._conversations.get(peer)))[0])
                self._say(ev.MESSAGE_FAILED, {"conversation": peer, "id": message["id"], "reason": reason})
                return "failed"
        await self.db.execute("DELETE FROM chat_unsent WHERE id = ?", (message["id"],))
        self.stats["unsent"] = max(0, self.stats["unsent"] - 1)
        row = await self.messaging.message(peer, message["id"], direction="out")
        if row is not None:
            self._show((await self._quoted(peer, [self._from_row(peer, row)], self._conversations.get(peer)))[0])
        return "sent"

    async def retry(self, conversation: str, message_id: str) -> dict[str, Any]:
        """Send a ``failed`` message again (or a ``queued`` unsent one now)."""
        peer = await self._target(conversation, write=True)
        message_id = self._message_id(message_id)
        unsent = [m for m in await self._unsent(peer) if m["id"] == message_id]
        if unsent:
            await self.db.execute("UPDATE chat_unsent SET status = 'queued', reason = NULL WHERE id = ?",
                                  (message_id,))
            outcome = await self._send_unsent(peer, {**unsent[0], "status": "queued"})
            if outcome == "waits":
                self._show({**unsent[0], "status": "queued", "reason": None})
            return await self.message(peer, message_id)
        found = await self._find(peer, message_id)
        if found is None or found["direction"] != "out":
            raise UnknownMessageError(peer, message_id)
        if found["status"] != "failed":
            raise InvalidChatInputError("message_id", f"is {found['status']}, not failed")
        await self.messaging.retry(peer, message_id)
        self._show((await self._quoted(peer, [{**found, "status": "queued"}]))[0])
        return await self.message(peer, message_id)

    async def edit(self, conversation: str, message_id: str, text: str) -> dict[str, Any]:
        """Replace the text of one of ours, for both sides."""
        peer = await self._target(conversation, write=True)
        message_id = self._message_id(message_id)
        text = self._text(text)
        found = await self._find(peer, message_id)
        if found is None or found["direction"] != "out":
            raise UnknownMessageError(peer, message_id)
        if found["deleted"]:
            raise InvalidChatInputError("message_id", "is deleted")
        if found["seq"] is None:  # never sealed: only our copy exists
            await self.db.execute("UPDATE chat_unsent SET body = ? WHERE id = ?", (text, message_id))
        else:
            await self.messaging.edit(peer, message_id, text)
        return await self._changed(peer, message_id, ev.MESSAGE_EDITED)

    async def delete(self, conversation: str, message_id: str) -> None:
        """Delete one of ours for both sides: a tombstone stays (no text)."""
        peer = await self._target(conversation)
        message_id = self._message_id(message_id)
        found = await self._find(peer, message_id)
        if found is None or found["direction"] != "out":
            raise UnknownMessageError(peer, message_id)
        if found["deleted"]:
            return
        if found["seq"] is None:
            await self.db.execute("DELETE FROM chat_unsent WHERE id = ?", (message_id,))
            self._unshow(peer, message_id)
            self._say(ev.MESSAGE_DELETED, {"conversation": peer, "id": message_id})
            return
        self._writable(peer)  # the others' copies change too: a contact not blocked, a group we are in
        await self.messaging.delete(peer, message_id)
        await self._changed(peer, message_id, ev.MESSAGE_DELETED)

    async def _changed(self, peer: str, message_id: str, spec: Any) -> dict[str, Any]:
        found = await self._find(peer, message_id)
        assert found is not None
        message = (await self._quoted(peer, [found], self._conversations.get(peer)))[0]
        window = self._loaded(peer, message_id)
        if window is not None and message_id in window.by_id:
            window.put(message)
            window.tell("upsert", message=message)
        await self._requote(window, message_id)
        self._say(spec, {"conversation": peer, "id": message_id})
        return message

    async def read(self, conversation: str, up_to: str | None = None) -> list[str]:
        """Mark the peer's (the members') messages read (all, or up to ``up_to``); a read receipt
        goes to a contact, or to each author in a group we are in, when ``read_receipts`` is on.
        The ids newly read."""
        peer = await self._target(conversation)
        if up_to is not None:
            up_to = self._message_id(up_to, "up_to")
        receipt = self.config.read_receipts and self._answers(peer)
        blocked = self._contacts(blocked=True)
        try:
            ids = await self.messaging.mark_read(peer, up_to, receipt=receipt, quiet=blocked)
        except Exception as exc:
            if _is(exc, "UnknownMessageError"):
                raise UnknownMessageError(peer, str(up_to)) from None
            raise
        if not ids:
            return []
        window = self._loaded(peer, *ids)
        if window is not None:
            for message_id in ids:
                message = window.by_id.get(message_id)
                if message is not None and message["status"] == "received":
                    window.put({**message, "status": "read"})
                    window.tell("upsert", message=window.by_id[message_id])
        if blocked:  # some of the ids may be blocked people's, which were never counted
            self._set_unread(peer, (await self._recount()).get(peer, 0))
        else:
            self._set_unread(peer, max(0, self._unread.get(peer, 0) - len(ids)))
        return ids

    async def typing(self, conversation: str) -> bool:
        """Tell the peer we are typing, at most once per ``typing_interval_s``; whether it went."""
        peer = await self._target(conversation, write=True)
        if not self.config.typing_indicators:
            return False
        now = time.monotonic()
        if now - self._typing_sent.get(peer, -1e9) < self.config.typing_interval_s:
            return False
        self._typing_sent[peer] = now
        return await self.messaging.typing(peer)

    async def _recount(self) -> dict[str, int]:
        """The unread counts from the database (blocked people's left out), read again if a count
        moved meanwhile: an arrival counted during the read may or may not be in it."""
        for _ in range(_PAGE_READS):
            moves = self._unread_moves
            counts = await self.messaging.unread_counts(ignore=self._contacts(blocked=True))
            if self._unread_moves == moves:
                break
        return counts

    def _set_counts(self, counts: dict[str, int]) -> None:
        for peer in sorted(set(counts) | set(self._unread)):
            self._set_unread(peer, counts.get(peer, 0))

    def _set_unread(self, peer: str, unread: int) -> None:
        if self._unread.get(peer, 0) != unread:
            self._unread_moves += 1
            self._unread[peer] = unread
            self._say(ev.UNREAD_CHANGED, {"conversation": peer, "unread": unread})

    # ------------------------------------------------------------------ awaiting
    async def next_message(self, conversation: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """The next message received (from ``conversation``, or anyone); ``TimeoutError`` after
        ``timeout`` seconds."""
        peer = None if conversation is None else await self._target(conversation)
        self._require_ready()
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or timeout <= 0):
            raise InvalidChatInputError("timeout", "must be a positive number of seconds")
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry = (peer, waiter)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def __repr__(self) -> str:
        return (f"ChatService(ready={self.ready}, conversations={len(self._conversations)}, "
                f"unread={sum(self._unread.values())}, unsent={self.stats['unsent']})")


def _reason(exc: BaseException) -> str:
    """Why a message could not be sealed, in words for the window (no traceback)."""
    text = str(exc) or type(exc).__name__
    if _is(exc, "NoBundleError"):
        return f"their keys are not on the relay ({text})"
    return text[:300]


def _md_text(text: str) -> str:
    """Plain text made inert in Markdown (names and previews in the export)."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!|<>~" else ch for ch in text)
