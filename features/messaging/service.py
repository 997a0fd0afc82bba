"""End-to-end encrypted delivery: crypto seals, signaling carries, the profile database keeps.

Sending writes three things in one transaction, the ratchet step, the outbox row signaling will
send, and the message's own row, so a kernel that dies at any point sends the message exactly
once after the restart or never made it. Receiving opens the envelope, stores the message and
acknowledges the relay message in one transaction too (the relay keeps each message until then
and delivers it again after a reconnect or a restart), so a message is neither lost nor stored
twice::

    message_id = await messaging.send(peer, "hello")        # sealed, stored, queued
    rows = await messaging.history(peer)                      # both directions, oldest first

Prekeys are published at every connection and refilled when a peer used one of ours.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from chatkernel.relay.protocol import is_message_id, is_user_id

from . import _wire
from . import events as ev
from ._api import CryptoAPI, IdentityAPI, PersistenceAPI, SignalingAPI
from ._config import MessagingConfig
from ._groups import GROUP_PREFIX, GroupsMixin, is_group
from ._wire import Content
from .errors import (
    AlreadySentError,
    InvalidMessageError,
    NotReadyError,
    OfflineError,
    UnknownMessageError,
    WireFormatError,
)

__all__ = ["MessagingService"]

Emit = Callable[..., Any]
Listener = Callable[[str, dict[str, Any]], None]
_COLUMNS = "peer, direction, id, kind, body, sent_at, stored_at, status, relay_id, reply_to, author"
_INSERT = f"INSERT INTO messaging_messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_READ = "rowid, " + _COLUMNS + ", edited_at, deleted"
_NAMES = ["seq", *(c.strip() for c in _COLUMNS.split(",")), "edited_at", "deleted"]
#: what a receipt may move one of ours from (never back: a late "delivered" after "read" is void)
_HANDOVER_MAX = 256
_GROUP_ID_MAX = 95  # 128 - len(".<member>")
_RECEIPT_FROM = {"delivered": ("queued", "sent"), "read": ("queued", "sent", "delivered")}


class _AlreadyStored(Exception):
    """Raised inside a receiving transaction to roll it back: this relay message was handled."""


def _ms() -> int:
    return int(time.time() * 1000)


class MessagingService(GroupsMixin):
    """``send``, ``history`` and ``conversations`` for callers (a peer's user id or a group's
    conversation id, see :mod:`._groups`); ``receive``, ``sent``, ``failed`` and
    ``publish_prekeys`` for the machine (they never raise)."""

    def __init__(self, db: PersistenceAPI, identity: IdentityAPI, crypto: CryptoAPI, signaling: SignalingAPI,
                 config: MessagingConfig | None = None, emit: Emit | None = None, *,
                 logger: logging.Logger | None = None):
        self.db = db
        self.identity = identity
        self.crypto = crypto
        self.signaling = signaling
        self.config = config or MessagingConfig()
        self._emit = emit
        self.log = logger or logging.getLogger("chatkernel.features.messaging")
        self.listener: Listener | None = None
        self._peer_locks: dict[str, asyncio.Lock] = {}
        self._just_received: dict[tuple[str, str], dict[str, Any]] = {}  # see message()
        self._upload_lock = asyncio.Lock()
        self._group_lock = asyncio.Lock()
        self.stats = {"sent": 0, "received": 0, "unreadable": 0, "relay_prekeys": None}
        self.last_upload_error: str | None = None
        signaling.retain_until_acknowledged()

    # ------------------------------------------------------------------ readiness
    @property
    def ready(self) -> bool:
        return self.db.state == "open" and self.identity.user_id is not None

    def _require_ready(self) -> str:
        if self.db.state != "open":
            raise NotReadyError("the profile database is not open")
        user_id = self.identity.user_id
        if user_id is None:
            raise NotReadyError("no identity is loaded")
        return user_id

    def _say(self, spec: Any, payload: dict[str, Any]) -> None:
        if self._emit is not None:
            self._emit(spec, payload)

    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    # ------------------------------------------------------------------ sending
    def _check(self, peer: object, body: object, me: str) -> str:
        peer = self._check_peer(peer, me)
        if not isinstance(body, str):
            raise InvalidMessageError("body", f"must be a str, got {type(body).__name__}")
        if not body.strip():
            raise InvalidMessageError("body", "is empty")
        size = len(body.encode("utf-8", "surrogatepass"))
        if size > self.config.max_body_bytes:
            raise InvalidMessageError("body", f"is {size} bytes, over the limit of {self.config.max_body_bytes}")
        try:
            body.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidMessageError("body", "holds a lone surrogate (not valid Unicode text)") from None
        return peer

    async def send(self, peer: str, body: str, *, message_id: str | None = None,
                   reply_to: str | None = None) -> str:
        """Seal ``body`` for ``peer`` and queue it; the message id once it is stored.

        The first message to someone fetches their prekey bundle from the relay, so it needs a
        connection (:class:`OfflineError` at once without one, nothing written); later ones are sealed and stored offline and go when the connection returns.
        ``SECURE_MESSAGE_SENT`` follows when the relay accepts it. An id already sent raises
        :class:`AlreadySentError` and changes nothing (a retried send after a restart)."""
        me = self._require_ready()
        peer = self._check(peer, body, me)
        message_id = self._message_id(message_id, "message_id")
        if reply_to is not None:
            reply_to = self._message_id(reply_to, "reply_to")
        content = Content(message_id, "text", body, _ms(), reply_to)

        def store(tx: Any) -> None:
            tx.write(_INSERT, (peer, "out", message_id, "text", body, content.sent_at, _ms(), "queued", None,
                               reply_to, me))

        if is_group(peer):
            if len(message_id) > _GROUP_ID_MAX:  # each member's copy is "<id>.<member>", a message id too
                raise InvalidMessageError("message_id", f"is over {_GROUP_ID_MAX} characters (a group message's)")
            await self._seal_group(peer, content, store, receipts=True)
        else:
            await self._seal(peer, content, store)
        self.stats["sent"] += 1
        self._notify("STATS")
        return message_id

    async def edit(self, peer: str, message_id: str, body: str) -> str:
        """Replace the text of one of ours, here and (sealed, as an ``edit``) at ``peer``."""
        me = self._require_ready()
        peer = self._check(peer, body, me)
        target = await self._own(peer, self._message_id(message_id, "message_id"))

        def store(tx: Any) -> None:
            tx.write("UPDATE messaging_messages SET body = ?, edited_at = ? WHERE direction = 'out' AND id = ?",
                     (body, _ms(), target))

        return await self._control(peer, "edit", store, body=body, ref=target)

    async def delete(self, peer: str, message_id: str) -> str:
        """Delete one of ours for both sides: the rows become tombstones (no text kept)."""
        me = self._require_ready()
        peer = self._check_peer(peer, me)
        target = await self._own(peer, self._message_id(message_id, "message_id"))

        def store(tx: Any) -> None:
            tx.write("UPDATE messaging_messages SET body = '', deleted = 1, edited_at = ? "
                     "WHERE direction = 'out' AND id = ?", (_ms(), target))

        return await self._control(peer, "delete", store, ref=target)

    async def mark_read(self, peer: str, up_to: str | None = None, *, receipt: bool = True,
                        quiet: Collection[str] = ()) -> list[str]:
        """Mark theirs as read (all, or up to ``up_to`` in arrival order) and, with ``receipt``,
        tell each author in a sealed ``read`` receipt (none to ``quiet``'s: blocked people); the
        ids newly read."""
        me = self._require_ready()
        peer = self._check_peer(peer, me)
        quiet = self._users(quiet, "quiet")
        limit = 2**62
        if up_to is not None:
            row = await self.db.fetchone("SELECT rowid FROM messaging_messages WHERE peer = ? AND direction = 'in' "
                                         "AND id = ?", (peer, self._message_id(up_to, "up_to")))
            if row is None:
                raise UnknownMessageError(peer, up_to)
            limit = int(row[0])
        rows = await self.db.fetchall("SELECT id, coalesce(author, peer) FROM messaging_messages WHERE peer = ? "
                                      "AND direction = 'in' AND status = 'received' AND rowid <= ? ORDER BY rowid",
                                      (peer, limit))
        ids = [row[0] for row in rows]
        for message_id in ids:  # no longer as it was received
            self._just_received.pop((peer, message_id), None)
        for author, chunk in _by_author(rows):  # a group's receipts go to each author, pairwise
            marks = ",".join("?" * len(chunk))

            def store(tx: Any, chunk: list[str] = chunk, marks: str = marks) -> None:
                tx.write(f"UPDATE messaging_messages SET status = 'read' WHERE peer = ? AND direction = 'in' "
                         f"AND status = 'received' AND id IN ({marks})", (peer, *chunk))

            if receipt and author not in quiet and await self.crypto.has_session(author):
                await self._control(author, "read", store, refs=tuple(chunk))
            else:
                async with self.db.transaction() as tx:
                    store(tx)
        return ids

    async def deliver_receipt(self, peer: str, ids: list[str]) -> str | None:
        """Tell ``peer`` that these messages of theirs are stored here (a sealed ``delivered``)."""
        me = self._require_ready()
        peer = self._check_peer(peer, me)
        refs = tuple(self._message_id(i, "ids") for i in ids)
        if not 1 <= len(refs) <= _wire.MAX_REFS:
            raise InvalidMessageError("ids", f"must hold 1 to {_wire.MAX_REFS} message ids")
        if not is_group(peer):
            return await self._control(peer, "delivered", None, refs=refs)
        rows = await self.db.fetchall(
            f"SELECT id, author FROM messaging_messages WHERE peer = ? AND direction = 'in' AND id IN "
            f"({','.join('?' * len(refs))}) ORDER BY rowid", (peer, *refs))
        sent = [await self._control(author, "delivered", None, refs=tuple(chunk))
                for author, chunk in _by_author(rows)]
        return sent[0] if sent else None

    async def typing(self, peer: str) -> bool:
        """Say we are typing: sealed, sent from memory and never stored (LOW value: lost with a
        restart, and not sent at all without a session, so it never fetches a bundle)."""
        me = self._require_ready()
        peer = self._check_peer(peer, me)
        if not is_group(peer) and not await self.crypto.has_session(peer):
            return False
        await self._control(peer, "typing", None, ephemeral=True)
        return True

    async def retry(self, peer: str, message_id: str) -> str:
        """Send a ``failed`` message of ours again, sealed anew under the same id."""
        me = self._require_ready()
        peer = self._check_peer(peer, me)
        message_id = self._message_id(message_id, "message_id")
        row = await self.db.fetchone("SELECT body, reply_to, status, deleted FROM messaging_messages WHERE peer = ? "
                                     "AND direction = 'out' AND id = ?", (peer, message_id))
        if row is None:
            raise UnknownMessageError(peer, message_id)
        body, reply_to, status, deleted = row
        if status != "failed" or deleted:
            raise InvalidMessageError("message_id", f"is {'deleted' if deleted else status}, not failed")
        content = Content(message_id, "text", body, _ms(), reply_to)

        def store(tx: Any) -> None:
            tx.write("UPDATE messaging_messages SET status = 'queued' WHERE direction = 'out' AND id = ? "
                     "AND status = 'failed'", (message_id,))

        if is_group(peer):  # again to the members it failed for, under the same transport ids
            failed = await self.db.fetchall("SELECT member FROM messaging_group_receipts WHERE message_id = ? "
                                            "AND status = 'failed'", (message_id,))
            await self._seal_group(peer, content, store, receipts=True, only=[r[0] for r in failed])
        else:
            await self._seal(peer, content, store)
        return message_id

    # the sealing path every kind shares ---------------------------------------------------
    def _message_id(self, value: object, field: str) -> str:
        if value is None and field == "message_id":
            return uuid.uuid4().hex
        if not is_message_id(value):
            raise InvalidMessageError(field, "is not a message id (docs/protocol.md)")
        return str(value)

    @staticmethod
    def _user_id(peer: object) -> str:
        """A conversation: a peer's user id or a group's conversation id."""
        if not is_user_id(peer) and not is_group(peer):
            raise InvalidMessageError("peer", f"must be a user id or a group conversation id, got {peer!r}")
        return str(peer)

    @staticmethod
    def _users(users: object, field: str) -> set[str]:
        if isinstance(users, (str, bytes)) or not isinstance(users, Collection):
            raise InvalidMessageError(field, f"must be a collection of user ids, got {type(users).__name__}")
        for user in users:
            if not is_user_id(user):
                raise InvalidMessageError(field, f"must hold user ids, got {str(user)[:80]!r}")
        return {str(user) for user in users}

    def _check_peer(self, peer: object, me: str) -> str:
        peer = self._user_id(peer)
        if peer == me:
            raise InvalidMessageError("peer", "is your own user id")
        return peer

    async def _own(self, peer: str, message_id: str) -> str:
        row = await self.db.fetchone("SELECT deleted FROM messaging_messages WHERE peer = ? AND direction = 'out' "
                                     "AND id = ?", (peer, message_id))
        if row is None:
            raise UnknownMessageError(peer, message_id)
        if row[0]:
            raise InvalidMessageError("message_id", "is deleted")
        return message_id

    async def _control(self, peer: str, kind: str, store: Callable[[Any], None] | None, *, body: str = "",
                       ref: str | None = None, refs: tuple[str, ...] = (), ephemeral: bool = False) -> str:
        control_id = uuid.uuid4().hex
        content = Content(control_id, kind, body, _ms(), ref, refs)
        if is_group(peer):
            await self._seal_group(peer, content, store, ephemeral=ephemeral)
        else:
            await self._seal(peer, content, store, ephemeral=ephemeral)
        return control_id

    async def _seal(self, peer: str, content: Content, store: Callable[[Any], None] | None, *,
                    ephemeral: bool = False) -> None:
        """Seal ``content`` and, in the transaction that commits the ratchet step, queue it with
        signaling and run ``store``; an ephemeral one is queued in memory after the commit."""
        plaintext = _wire.content_bytes(content)
        sealed: list[bytes] = []

        async def on_commit(tx: Any, envelope: bytes) -> None:
            if ephemeral:
                sealed.append(envelope)
            else:
                await self.signaling.queue(tx, peer, _wire.payload(envelope), content.id)
            if store is not None:
                store(tx)

        lock = self._peer_locks.setdefault(peer, asyncio.Lock())
        async with lock:  # one bundle fetch per first contact, however many sends wait for it
            bundle = None
            if not await self.crypto.has_session(peer):
                if not self.signaling.connected:
                    raise OfflineError(peer)
                bundle = await self.signaling.fetch_bundle(peer)
            try:
                await self.crypto.encrypt(peer, plaintext, bundle=bundle, on_commit=on_commit)
            except Exception as exc:
                if type(exc).__name__ == "ConstraintError" and content.kind == "text":
                    raise AlreadySentError(content.id) from None
                raise
        if sealed:
            self.signaling.enqueue(peer, _wire.payload(sealed[0]), content.id)
        else:
            await self.signaling.wake()

    async def sent(self, payload: dict[str, Any]) -> None:
        """Signaling's ``RELAY_MESSAGE_SENT``: ours, if we have it queued, is now ``sent``."""
        try:
            if not self.ready:
                return
            changed = await self.db.execute(
                "UPDATE messaging_messages SET status = 'sent', relay_id = ? WHERE direction = 'out' AND id = ? "
                "AND status = 'queued'", (payload.get("relay_id"), payload.get("id")))
            moved = None if changed else await self._group_progress(payload.get("id"), "sent")
        except Exception as exc:
            self.log.info("could not mark %s sent: %s", payload.get("id"), exc)
            return
        if changed:
            self._say(ev.SECURE_MESSAGE_SENT, {"peer": payload["to"], "id": payload["id"]})
        elif moved is not None and moved[2] == "sent":
            self._say(ev.SECURE_MESSAGE_SENT, {"peer": moved[0], "id": moved[1]})

    async def failed(self, payload: dict[str, Any]) -> None:
        """Signaling's ``RELAY_SEND_FAILED``: ours, if we have it queued, is now ``failed``."""
        try:
            if not self.ready or payload.get("id") is None:
                return
            changed = await self.db.execute(
                "UPDATE messaging_messages SET status = 'failed' WHERE direction = 'out' AND id = ? "
                "AND status = 'queued'", (payload["id"],))
            moved = None if changed else await self._group_progress(payload.get("id"), "failed")
        except Exception as exc:
            self.log.info("could not mark %s failed: %s", payload.get("id"), exc)
            return
        if changed:
            self._say(ev.SECURE_MESSAGE_FAILED, {"peer": str(payload.get("to")), "id": payload["id"],
                                                 "reason": str(payload.get("reason"))})
        elif moved is not None and moved[2] == "failed":
            self._say(ev.SECURE_MESSAGE_FAILED, {"peer": moved[0], "id": moved[1],
                                                 "reason": f"{payload.get('to')}: {payload.get('reason')}"})

    # ------------------------------------------------------------------ receiving
    async def receive(self, payload: dict[str, Any]) -> str:
        """Signaling's ``RELAY_MESSAGE_RECEIVED``: open, store and acknowledge in one transaction, then
        settle it with signaling. Returns what happened (``stored``, ``unreadable``, ``already
        stored``, ``not ready``, ``kept``); a message that cannot be handled now (``not ready``,
        ``kept``) stays on the relay and comes again."""
        relay_id = str(payload.get("relay_id"))
        outcome = await self._receive(payload, relay_id)
        try:
            self.signaling.settle(relay_id, outcome in ("stored", "unreadable", "already stored", "parked"))
        except Exception as exc:  # signaling went away: the message comes again
            self.log.info("could not settle %s: %s", relay_id, exc)
        return outcome

    async def _receive(self, payload: dict[str, Any], relay_id: str) -> str:
        if not self.ready:
            return "not ready"
        sender = payload.get("sender")
        if not await self._pending(relay_id):
            return "already stored"  # delivered again (a restart, a re-login): handled once already
        if not is_user_id(sender):
            return await self._drop(str(sender), relay_id, "bad_sender")
        try:
            envelope, group_id = _wire.parse_payload(payload.get("payload"))
        except WireFormatError as exc:
            return await self._drop(sender, relay_id, "malformed", exc.reason)
        if group_id is not None:
            return await self._receive_group(sender, group_id, envelope, relay_id)
        outcome: dict[str, Any] = {}

        async def on_commit(tx: Any, plaintext: bytes) -> None:
            if not await self.signaling.acknowledge(tx, relay_id):
                raise _AlreadyStored()
            try:
                content = _wire.parse_content(plaintext)
            except WireFormatError as exc:  # authentic but not ours to read: the ratchet step stays
                outcome["unreadable"] = exc.reason
                return
            outcome["content"] = content
            if content.group is not None:
                outcome["changed"] = await self._apply_control(tx, sender, content.group)
            else:
                outcome["changed"] = await self._apply(tx, sender, sender, content, relay_id)

        try:
            await self.crypto.decrypt(sender, envelope, on_commit=on_commit)
        except _AlreadyStored:
            return "already stored"
        except Exception as exc:
            reason = self.crypto.refusal_reason(exc)
            if reason is None:
                self.log.warning("message %s from %s kept for later: %s: %s", relay_id, sender,
                                 type(exc).__name__, exc)
                return "kept"
            return await self._drop(sender, relay_id, reason)
        if "unreadable" in outcome:
            self._unreadable(sender, relay_id, "bad_content", outcome["unreadable"])
            return "unreadable"
        return await self._settled(sender, sender, outcome["content"], outcome["changed"], relay_id)

    async def _receive_group(self, sender: str, group_id: str, envelope: bytes, relay_id: str, *,
                             parked: bool = False) -> str:
        """A group message: opened with ``sender``'s sender key, stored and acknowledged (or, for
        one ``parked`` earlier, its parked row deleted) in one transaction. One whose group or
        sender is not known here yet is parked; one for a group we are no longer in is dropped."""
        found = await self._load_group(None, group_id)
        waiting = found is None or (found["state"] == "active" and sender not in found["members"])
        if waiting and parked:
            return "kept"
        if waiting:
            return await self._park_or_drop(sender, group_id, envelope, relay_id)
        assert found is not None
        if found["state"] != "active":
            return await self._drop(sender, relay_id, "not_in_group", parked=parked)
        conversation = GROUP_PREFIX + group_id
        outcome: dict[str, Any] = {}

        async def on_commit(tx: Any, plaintext: bytes) -> None:
            if parked:
                if not await tx.execute("DELETE FROM messaging_group_parked WHERE relay_id = ?", (relay_id,)):
                    raise _AlreadyStored()
            elif not await self.signaling.acknowledge(tx, relay_id):
                raise _AlreadyStored()
            try:
                content = _wire.parse_content(plaintext)
                if content.kind not in _wire.GROUP_KINDS:
                    raise WireFormatError(f"a {content.kind} is not sent to a group")
            except WireFormatError as exc:
                outcome["unreadable"] = exc.reason
                return
            outcome["content"] = content
            outcome["changed"] = await self._apply(tx, conversation, sender, content, relay_id)

        try:
            await self.crypto.decrypt_group(group_id, sender, envelope, on_commit=on_commit)
        except _AlreadyStored:
            return "already stored"
        except Exception as exc:
            reason = self.crypto.refusal_reason(exc)
            if reason == "unknown_sender_key" and parked:
                return "kept"  # parked before the invitation: the sender's key comes after it
            # (a member's key travels in their pairwise session before their first group
            # message, in the same mailbox: a fresh one under an unknown key is refused)
            if reason is None:
                self.log.warning("group message %s from %s kept for later: %s: %s", relay_id, sender,
                                 type(exc).__name__, exc)
                return "kept"
            return await self._drop(sender, relay_id, reason, parked=parked)
        if "unreadable" in outcome:
            self._unreadable(sender, relay_id, "bad_content", outcome["unreadable"])
            return "unreadable"
        return await self._settled(conversation, sender, outcome["content"], outcome["changed"], relay_id)

    async def _park_or_drop(self, sender: str, group_id: str, envelope: bytes, relay_id: str) -> str:
        try:
            parked = await self._park(sender, group_id, envelope, relay_id)
        except Exception as exc:
            self.log.info("could not park message %s: %s", relay_id, exc)
            return "kept"
        if parked == "full":
            self._unreadable(sender, relay_id, "too_many_waiting")
            return "unreadable"
        return parked

    async def _replay(self, group_id: str) -> None:
        """The group's parked messages, now that its invitation (or a key) came."""
        for relay_id, sender, envelope in await self._parked(group_id):
            await self._receive_group(sender, group_id, envelope, relay_id, parked=True)

    async def _settled(self, peer: str, author: str, content: Content, changed: Any, relay_id: str) -> str:
        """After the receiving transaction committed: say what changed."""
        if not changed:
            return "already stored"  # the same message id from this peer under another relay id, or void
        if content.kind == "text":
            self.stats["received"] += 1
            self._hand_over(peer, author, content, relay_id, changed)
            self._say(ev.SECURE_MESSAGE_RECEIVED, {"peer": peer, "id": content.id, "kind": content.kind,
                                                   "sent_at": content.sent_at, "author": author})
        elif content.kind in ("delivered", "read"):
            by_conversation: dict[tuple[str, str], list[str]] = {}
            for conversation, message_id, status in changed:
                if status in ("delivered", "read"):
                    by_conversation.setdefault((conversation, status), []).append(message_id)
            for (conversation, status), ids in by_conversation.items():
                self._say(ev.RECEIPT_RECEIVED, {"peer": conversation, "kind": status, "ids": ids})
        elif content.kind == "typing":
            self._say(ev.PEER_TYPING, {"peer": peer, "author": author})
        elif content.kind == "group":
            group_id, change = changed
            if change in ("joined", "renamed", "members", "removed"):
                self._say(ev.GROUP_CHANGED, {"group": GROUP_PREFIX + group_id, "change": change, "by": author})
            await self.flush_group_controls()
            await self._replay(group_id)
        else:
            self._just_received.pop((peer, str(content.ref)), None)
            self._say(ev.SECURE_MESSAGE_CHANGED, {"peer": peer, "id": str(content.ref),
                                                  "change": "edited" if content.kind == "edit" else "deleted"})
        self._notify("STATS")
        return "stored"

    def forget(self) -> None:
        """Log-out or lock: no message stays in memory."""
        self._just_received.clear()

    def _hand_over(self, peer: str, author: str, content: Content, relay_id: str, stored: tuple[Any, ...]) -> None:
        """Keep the row just committed for the first :meth:`message` call about it (bounded;
        dropped when the row changes: read, edited, deleted, or at log-out)."""
        seq, stored_at = stored
        self._just_received[(peer, content.id)] = {
            "seq": int(seq), "peer": peer, "direction": "in", "id": content.id, "kind": "text",
            "body": content.body, "sent_at": content.sent_at, "stored_at": int(stored_at), "status": "received",
            "relay_id": relay_id, "reply_to": content.ref, "author": author, "edited_at": None, "deleted": False}
        while len(self._just_received) > _HANDOVER_MAX:
            self._just_received.pop(next(iter(self._just_received)))

    async def _apply(self, tx: Any, peer: str, author: str, content: Content, relay_id: str) -> Any:
        """Store or apply what ``author`` sealed into ``peer``'s conversation (theirs, or a
        group's), in the receiving transaction; what changed (a false value: nothing, the
        message or its target was handled already or is not theirs)."""
        if content.kind == "text":
            row = await tx.fetchone(
                _INSERT.replace("INSERT", "INSERT OR IGNORE", 1) + " RETURNING rowid, stored_at",
                (peer, "in", content.id, "text", content.body, content.sent_at, _ms(), "received", relay_id,
                 content.ref, author))
            return row  # (seq, stored_at), or None: stored already
        if content.kind == "edit":
            return await tx.execute("UPDATE messaging_messages SET body = ?, edited_at = ? WHERE peer = ? "
                                    "AND direction = 'in' AND id = ? AND deleted = 0 AND coalesce(author, peer) = ?",
                                    (content.body, _ms(), peer, content.ref, author))
        if content.kind == "delete":
            return await tx.execute("UPDATE messaging_messages SET body = '', deleted = 1, edited_at = ? "
                                    "WHERE peer = ? AND direction = 'in' AND id = ? AND deleted = 0 "
                                    "AND coalesce(author, peer) = ?", (_ms(), peer, content.ref, author))
        if content.kind in _RECEIPT_FROM:
            marks = ",".join("?" * len(content.refs))
            rows = await tx.fetchall(
                f"UPDATE messaging_messages SET status = ? WHERE peer = ? AND direction = 'out' AND id IN ({marks}) "
                f"AND status IN ({','.join('?' * len(_RECEIPT_FROM[content.kind]))}) RETURNING id",
                (content.kind, peer, *content.refs, *_RECEIPT_FROM[content.kind]))
            moved = [(peer, row[0], content.kind) for row in rows]
            done = {row[0] for row in rows}
            rest = tuple(ref for ref in content.refs if ref not in done)
            # an id of ours names one message (a unique index): what moved here is no group's
            return moved + (await self._group_receipt(tx, author, content.kind, rest) if rest else [])
        return True  # typing: nothing to store

    async def _pending(self, relay_id: str) -> bool:
        try:
            return await self.signaling.is_pending(relay_id)
        except Exception as exc:
            self.log.info("cannot tell whether %s is pending (%s); trying it", relay_id, exc)
            return True

    async def _drop(self, sender: str, relay_id: str, reason: str, detail: str = "", *, parked: bool = False) -> str:
        """Acknowledge a message that can never be read, so it is not delivered again (or, one
        parked earlier, forget it)."""
        try:
            async with self.db.transaction() as tx:
                if parked:
                    tx.write("DELETE FROM messaging_group_parked WHERE relay_id = ?", (relay_id,))
                else:
                    await self.signaling.acknowledge(tx, relay_id)
        except Exception as exc:
            self.log.info("could not drop message %s: %s", relay_id, exc)
            return "kept"
        self._unreadable(sender, relay_id, reason, detail)
        return "unreadable"

    def _unreadable(self, sender: str, relay_id: str, reason: str, detail: str = "") -> None:
        self.log.info("message %s from %s dropped: %s%s", relay_id, sender, reason, f" ({detail})" if detail else "")
        self.stats["unreadable"] += 1
        self._say(ev.UNREADABLE_MESSAGE, {"peer": sender, "relay_id": relay_id, "reason": reason})
        self._notify("STATS")

    # ------------------------------------------------------------------ prekeys
    async def publish_prekeys(self, trigger: str = "manual") -> dict[str, Any] | None:
        """Upload the signed prekey and enough one-time prekeys to bring the relay back to
        crypto's target (at most ``upload_rounds`` uploads); the last answer, or None if it
        could not be done now (not ready, not connected: tried again at the next connection)."""
        async with self._upload_lock:
            answer: dict[str, Any] | None = None
            try:
                self._require_ready()
                for _ in range(max(1, self.config.upload_rounds)):
                    body = await self.crypto.prekey_upload()
                    answer = await self.signaling.upload_keys(body)
                    low = await self.crypto.confirm_upload(body, answer)
                    if not low or not body.get("oneTimePrekeys"):
                        break
            except Exception as exc:
                if not self.ready:  # logged out meanwhile: not a failure, it runs at the next connection
                    self.log.info("prekeys not published (%s): logged out", trigger)
                    return None
                self.last_upload_error = f"{type(exc).__name__}: {exc}"
                self.log.info("prekeys not published (%s): %s", trigger, self.last_upload_error)
                self._notify("STATS")
                return None
            assert answer is not None
            self.last_upload_error = None
            self.stats["relay_prekeys"] = answer["oneTimePrekeys"]
            self._say(ev.PREKEYS_PUBLISHED, {"remaining": answer["oneTimePrekeys"], "accepted": answer["accepted"],
                                             "trigger": trigger})
            self._notify("STATS")
            return answer

    # ------------------------------------------------------------------ reading
    async def history(self, peer: str, *, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
        """The last ``limit`` messages with ``peer`` (before the one whose ``seq`` is ``before``),
        oldest first, in arrival order; ``seq`` is the paging cursor."""
        self._require_ready()
        self._user_id(peer)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidMessageError("limit", "must be an integer from 1 to 10000")
        if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
            raise InvalidMessageError("before", "must be a message's seq (an integer)")
        rows = await self.db.fetchall(
            f"SELECT {_READ} FROM messaging_messages WHERE peer = ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
            (peer, 2**62 if before is None else before, limit))
        return [self._row(row) for row in reversed(rows)]

    async def message(self, peer: str, message_id: str, *, direction: str | None = None) -> dict[str, Any] | None:
        """One message with ``peer`` by id (theirs first, if both sides used the id), or None.
        The first read of a message just received is answered from memory (the row as it was
        committed, handed over once), saving the reader a trip to the database."""
        self._require_ready()
        if direction in (None, "in"):
            handed = self._just_received.pop((peer, message_id), None)
            if handed is not None:
                return handed
        directions = ("in", "out") if direction is None else (direction,)
        rows = await self.db.fetchall(
            f"SELECT {_READ} FROM messaging_messages WHERE peer = ? AND direction IN ({','.join('?' * len(directions))}) "
            "AND id = ? ORDER BY direction", (peer, *directions, message_id))  # the primary key, not a scan
        return self._row(rows[0]) if rows else None

    async def search(self, peer: str, text: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Messages with ``peer`` whose text holds ``text`` (case-insensitive for ASCII), newest
        last; tombstones never match."""
        self._require_ready()
        self._user_id(peer)
        if not isinstance(text, str) or not text.strip() or len(text) > 200:
            raise InvalidMessageError("text", "must be 1 to 200 characters to search for")
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self.db.fetchall(
            f"SELECT {_READ} FROM messaging_messages WHERE peer = ? AND deleted = 0 AND body LIKE ? ESCAPE '\\' "
            "ORDER BY rowid DESC LIMIT ?", (peer, f"%{escaped}%", limit))
        return [self._row(row) for row in reversed(rows)]

    async def unread_counts(self, *, ignore: Collection[str] = ()) -> dict[str, int]:
        """Peer -> how many of theirs are not read yet, leaving out what ``ignore``'s authors wrote
        (blocked people, in a group too)."""
        self._require_ready()
        authors = sorted(self._users(ignore, "ignore"))
        skip = f"AND coalesce(author, peer) NOT IN ({','.join('?' * len(authors))}) " if authors else ""
        rows = await self.db.fetchall("SELECT peer, count(*) FROM messaging_messages WHERE direction = 'in' "
                                      f"AND status = 'received' AND deleted = 0 {skip}GROUP BY peer", authors)
        return {peer: int(count) for peer, count in rows}

    def _row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        item = dict(zip(_NAMES, row, strict=True))
        item["deleted"] = bool(item["deleted"])
        if item["author"] is None:  # a row from before groups
            item["author"] = item["peer"] if item["direction"] == "in" else self.identity.user_id
        return item

    async def conversations(self) -> list[dict[str, Any]]:
        """Each peer with messages: ``{peer, messages, last_at}``, most recent first."""
        self._require_ready()
        rows = await self.db.fetchall("SELECT peer, count(*), max(stored_at) FROM messaging_messages GROUP BY peer "
                                      "ORDER BY max(stored_at) DESC")
        return [{"peer": peer, "messages": int(count), "last_at": int(last)} for peer, count, last in rows]

    def __repr__(self) -> str:
        return (f"MessagingService(ready={self.ready}, sent={self.stats['sent']}, "
                f"received={self.stats['received']}, unreadable={self.stats['unreadable']})")


def _by_author(rows: list[tuple[Any, ...]]) -> list[tuple[str, list[str]]]:
    """``(id, author)`` rows as each author's ids, in chunks a receipt can name."""
    ids: dict[str, list[str]] = {}
    for message_id, author in rows:
        ids.setdefault(str(author), []).append(str(message_id))
    return [(author, chunk[start:start + _wire.MAX_REFS]) for author, chunk in ids.items()
            for start in range(0, len(chunk), _wire.MAX_REFS)]
