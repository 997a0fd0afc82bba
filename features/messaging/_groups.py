"""Groups for the messaging service: membership, sender keys and fan-out, kept together so that a
change of members and the sender-key step it needs commit in one transaction.

A group message is sealed once with our sender key (crypto's Sender Keys) and the same bytes go
to every member's mailbox, each under its own transport id (``<message id>.<member>``), so the
relay's idempotence and our per-member receipts both hold. Who is in the group travels only
inside the pairwise sessions (``group`` contents): the admin invites, renames, adds and removes;
anyone may leave. Every remaining member rotates its sender key when someone leaves or is
removed, so the one who left cannot read what follows.

The relay orders each mailbox, not the senders: a member's key, or a member's first message,
may arrive before our own invitation. The key waits (``messaging_group_waiting``) and the
message is parked sealed (``messaging_group_parked``); both are taken up when the invitation
comes. Controls to send are rows (``messaging_group_due``) written with the change that makes
them due and deleted in the transaction that seals each one, so a restart sends each once.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from chatkernel.relay.protocol import is_user_id

from . import _wire
from . import events as ev
from ._wire import Content, GroupControl
from .errors import AlreadySentError, GroupPermissionError, InvalidMessageError, OfflineError, UnknownGroupError

__all__ = ["GROUP_PREFIX", "GroupsMixin", "aggregate", "is_group"]

GROUP_PREFIX = "group:"
_GROUP_RE = re.compile(r"group:[0-9a-f]{32}\Z")
_NAME_MAX = 64
_PARKED_PER_GROUP = 256
_PARKED_MAX = 2048
_WAITING_PER_GROUP = 64
_WAITING_MAX = 1024
#: per-member statuses, least first: a group message is as far as its slowest member
_RANK = {"failed": -1, "queued": 0, "sent": 1, "delivered": 2, "read": 3}
_GROUP_COLUMNS = "group_id, name, members, admin, state, created_at, updated_at"


def _ms() -> int:
    return int(time.time() * 1000)


def is_group(value: object) -> bool:
    """A group conversation id: ``group:`` and 32 lowercase hex characters."""
    return isinstance(value, str) and _GROUP_RE.match(value) is not None


def aggregate(statuses: list[str]) -> str:
    """A group message's status from its members': the least of them (``failed`` first)."""
    return min(statuses, key=_RANK.__getitem__) if statuses else "sent"


def _group_row(row: tuple[Any, ...]) -> dict[str, Any]:
    group_id, name, members, admin, state, created_at, updated_at = row
    return {"group": GROUP_PREFIX + group_id, "name": name, "members": list(json.loads(members)), "admin": admin,
            "state": state, "created_at": int(created_at), "updated_at": int(updated_at)}


class GroupsMixin:
    """The group half of :class:`~features.messaging.service.MessagingService`."""

    db: Any
    identity: Any
    crypto: Any
    signaling: Any
    log: Any
    _group_lock: asyncio.Lock

    # provided by the service
    @property
    def ready(self) -> bool: ...  # pragma: no cover

    def _require_ready(self) -> str: ...  # pragma: no cover

    def _say(self, spec: Any, payload: dict[str, Any]) -> None: ...  # pragma: no cover

    async def _seal(self, peer: str, content: Content, store: Callable[[Any], None] | None, *,
                    ephemeral: bool = False) -> None: ...  # pragma: no cover

    # ------------------------------------------------------------------ checking input
    def _group_name(self, name: object) -> str:
        if not isinstance(name, str):
            raise InvalidMessageError("name", f"must be a str, got {type(name).__name__}")
        name = name.strip()
        if not 1 <= len(name) <= _NAME_MAX:
            raise InvalidMessageError("name", f"must be 1 to {_NAME_MAX} characters")
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
            raise InvalidMessageError("name", "holds a control character")
        return name

    def _members(self, members: object, me: str, *, most: int = _wire.MAX_MEMBERS - 1) -> list[str]:
        if isinstance(members, (str, bytes)) or not isinstance(members, (list, tuple, set, frozenset)):
            raise InvalidMessageError("members", "must be a list of user ids")
        out = list(members)
        if not 1 <= len(out) <= most:
            raise InvalidMessageError("members", f"must hold 1 to {most} user ids")
        for member in out:
            if not is_user_id(member):
                raise InvalidMessageError("members", f"holds {member!r}, which is not a user id")
            if member == me:
                raise InvalidMessageError("members", "holds your own user id (you are in the group already)")
        if len(set(out)) != len(out):
            raise InvalidMessageError("members", "holds a user id twice")
        return out

    @staticmethod
    def _group_id(group: object) -> str:
        if not is_group(group):
            raise InvalidMessageError("group", f"must be a group conversation id ('group:' and 32 hex), got {group!r}")
        return str(group)[len(GROUP_PREFIX):]

    async def _load_group(self, tx: Any, group_id: str) -> dict[str, Any] | None:
        reader = tx if tx is not None else self.db
        row = await reader.fetchone(f"SELECT {_GROUP_COLUMNS} FROM messaging_groups WHERE group_id = ?", (group_id,))
        return _group_row(row) if row is not None else None

    async def _active(self, group: object, me: str, *, admin: bool = False) -> dict[str, Any]:
        group_id = self._group_id(group)
        found = await self._load_group(None, group_id)
        if found is None:
            raise UnknownGroupError(str(group))
        if found["state"] != "active":
            raise GroupPermissionError(str(group), "you left this group" if found["state"] == "left"
                                       else "you were removed from this group")
        if admin and found["admin"] != me:
            raise GroupPermissionError(str(group), "only the group's admin may change who is in it or its name")
        return found

    async def _reachable(self, members: list[str]) -> None:
        """Before anything is written: a member with no session yet needs their keys from the relay."""
        if self.signaling.connected:
            return
        for member in members:
            if not await self.crypto.has_session(member):
                raise OfflineError(member)

    # ------------------------------------------------------------------ reading
    async def groups(self) -> list[dict[str, Any]]:
        """Every group we are or were in: ``{group, name, members, admin, state, created_at,
        updated_at}`` (``group`` is the conversation id), the most recently changed first."""
        self._require_ready()
        rows = await self.db.fetchall(f"SELECT {_GROUP_COLUMNS} FROM messaging_groups ORDER BY updated_at DESC, "
                                      "group_id")
        return [_group_row(row) for row in rows]

    async def group(self, group: str) -> dict[str, Any]:
        self._require_ready()
        found = await self._load_group(None, self._group_id(group))
        if found is None:
            raise UnknownGroupError(str(group))
        return found

    async def receipts(self, group: str, message_id: str) -> dict[str, str]:
        """Member -> how far one of our group messages got there."""
        self._require_ready()
        self._group_id(group)
        rows = await self.db.fetchall(
            "SELECT r.member, r.status FROM messaging_group_receipts r JOIN messaging_messages m "
            "ON m.id = r.message_id AND m.direction = 'out' WHERE m.peer = ? AND r.message_id = ? ORDER BY r.member",
            (group, message_id))
        return {member: status for member, status in rows}

    # ------------------------------------------------------------------ changing the group
    async def create_group(self, name: str, members: list[str]) -> str:
        """A new group of us (its admin) and ``members``; the invitations go in their pairwise
        sessions. The group's conversation id."""
        me = self._require_ready()
        name = self._group_name(name)
        members = self._members(members, me)
        await self._reachable(members)
        group_id = uuid.uuid4().hex
        everyone = sorted({me, *members})
        async with self.db.transaction() as tx:
            await self.crypto.create_group(group_id, everyone, tx=tx)
            key = await self.crypto.group_distribution(group_id, tx=tx)
            now = _ms()
            tx.write(f"INSERT INTO messaging_groups ({_GROUP_COLUMNS}) VALUES (?, ?, ?, ?, 'active', ?, ?)",
                     (group_id, name, json.dumps(everyone), me, now, now))
            self._due(tx, group_id, members, "invite", key)
        await self._changed(group_id, "created", me)
        return GROUP_PREFIX + group_id

    async def rename_group(self, group: str, name: str) -> None:
        me = self._require_ready()
        found = await self._active(group, me, admin=True)
        name = self._group_name(name)
        if name == found["name"]:
            return
        group_id = self._group_id(group)
        async with self.db.transaction() as tx:
            key = await self.crypto.group_distribution(group_id, tx=tx)
            tx.write("UPDATE messaging_groups SET name = ?, updated_at = ? WHERE group_id = ?", (name, _ms(), group_id))
            self._due(tx, group_id, [m for m in found["members"] if m != me], "update", key)
        await self._changed(group_id, "renamed", me)

    async def add_members(self, group: str, members: list[str]) -> None:
        """Invite ``members`` (the admin only): they get our key and the list, the others the
        new list; everyone then sends their key to the newcomers."""
        me = self._require_ready()
        found = await self._active(group, me, admin=True)
        members = self._members(members, me)
        already = [m for m in members if m in found["members"]]
        if already:
            raise InvalidMessageError("members", f"{already[0]} is in the group already")
        if len(found["members"]) + len(members) > _wire.MAX_MEMBERS:
            raise InvalidMessageError("members", f"a group holds at most {_wire.MAX_MEMBERS} people")
        await self._reachable(members)
        group_id = self._group_id(group)
        everyone = sorted({*found["members"], *members})
        async with self.db.transaction() as tx:
            key = await self.crypto.group_distribution(group_id, tx=tx)
            tx.write("UPDATE messaging_groups SET members = ?, updated_at = ? WHERE group_id = ?",
                     (json.dumps(everyone), _ms(), group_id))
            # the newcomers first: their invitation is then in their mailbox before anyone else
            # (told by the update that follows) sends them a key
            self._due(tx, group_id, members, "invite", key)
            self._due(tx, group_id, [m for m in found["members"] if m != me], "update", key)
        await self._changed(group_id, "members", me)

    async def remove_member(self, group: str, member: str) -> None:
        """Remove ``member`` (the admin only): our sender key is rotated in the same transaction,
        and every remaining member rotates theirs when the update reaches them."""
        me = self._require_ready()
        found = await self._active(group, me, admin=True)
        if member == me:
            raise InvalidMessageError("member", "is you: leave the group instead")
        if member not in found["members"]:
            raise InvalidMessageError("member", f"{member!r} is not in the group")
        group_id = self._group_id(group)
        remaining = [m for m in found["members"] if m != member]
        async with self.db.transaction() as tx:
            key = await self.crypto.remove_member(group_id, member, tx=tx)
            tx.write("UPDATE messaging_groups SET members = ?, updated_at = ? WHERE group_id = ?",
                     (json.dumps(remaining), _ms(), group_id))
            self._due(tx, group_id, [member], "removed", None)
            self._due(tx, group_id, [m for m in remaining if m != me], "update", key)
        await self._changed(group_id, "members", me)

    async def leave_group(self, group: str) -> None:
        """Leave: the others are told (and rotate their keys); the conversation stays, read-only."""
        me = self._require_ready()
        found = await self._active(group, me)
        group_id = self._group_id(group)
        remaining = [m for m in found["members"] if m != me]
        async with self.db.transaction() as tx:
            tx.write("UPDATE messaging_groups SET state = 'left', members = ?, admin = ?, updated_at = ? "
                     "WHERE group_id = ?", (json.dumps(remaining), _next_admin(found["admin"], remaining, me),
                                            _ms(), group_id))
            self._due(tx, group_id, remaining, "leave", None)
        await self._changed(group_id, "left", me)

    @staticmethod
    def _due(tx: Any, group_id: str, members: list[str], action: str, key: bytes | None) -> None:
        for member in members:
            tx.write("INSERT INTO messaging_group_due (group_id, member, action, key) VALUES (?, ?, ?, ?)",
                     (group_id, member, action, key))

    async def _changed(self, group_id: str, change: str, by: str) -> None:
        self._say(ev.GROUP_CHANGED, {"group": GROUP_PREFIX + group_id, "change": change, "by": by})
        await self.flush_group_controls()

    async def flush_group_controls(self) -> int:
        """Seal and queue every due group control, oldest first; a member who cannot be reached
        now (no session and no connection, no bundle) keeps theirs for the next try (at the next
        connection, change or group send). How many are still due."""
        try:
            return await self._flush_group_controls()
        except Exception as exc:  # the profile was locked meanwhile, or the disk went: tried again later
            if not self.ready:
                return 0
            self.log.warning("group controls not sent now: %s: %s", type(exc).__name__, exc)
            return 1

    async def _flush_group_controls(self) -> int:
        if not self.ready:
            return 0
        async with self._group_lock:
            rows = await self.db.fetchall("SELECT seq, group_id, member, action, key FROM messaging_group_due "
                                          "ORDER BY seq")
            stuck: set[str] = set()
            for seq, group_id, member, action, key in rows:
                if member in stuck:
                    continue  # keep the order per member: nothing after one that could not go
                found = await self._load_group(None, group_id)
                if found is None:
                    await self._drop_due(seq)
                    continue
                control = GroupControl(group_id, action, found["name"], tuple(found["members"]), found["admin"],
                                       bytes(key) if key is not None else b"")
                if action in ("invite", "update") and member not in found["members"]:
                    await self._drop_due(seq)
                    continue  # removed meanwhile: the invitation is void

                def store(tx: Any, seq: int = seq) -> None:
                    tx.write("DELETE FROM messaging_group_due WHERE seq = ?", (seq,))

                try:
                    await self._seal(member, Content(uuid.uuid4().hex, "group", "", _ms(), group=control), store)
                except Exception as exc:
                    if _never(exc):  # no such user on the relay (a made-up member): it would wait forever
                        self.log.info("group control %s for %s dropped: %s", action, member, exc)
                        await self._drop_due(seq)
                        continue
                    stuck.add(member)
                    self.log.info("group control %s for %s waits: %s: %s", action, member, type(exc).__name__, exc)
            left = await self.db.fetchone("SELECT count(*) FROM messaging_group_due")
        return int(left[0]) if left else 0

    async def _drop_due(self, seq: int) -> None:
        await self.db.execute("DELETE FROM messaging_group_due WHERE seq = ?", (seq,))

    # ------------------------------------------------------------------ sending to a group
    async def _seal_group(self, group: str, content: Content, store: Callable[[Any], None] | None, *,
                          receipts: bool = False, only: list[str] | None = None, ephemeral: bool = False) -> None:
        """Seal ``content`` once with our sender key and queue it for every member (or ``only``
        these), in the transaction that commits the sender-key step; ``store`` runs there too."""
        me = self._require_ready()
        found = await self._active(group, me)
        group_id = self._group_id(group)
        if await self._has_due(group_id):
            await self.flush_group_controls()  # the newcomers' invitations go before the message
        recipients = [m for m in found["members"] if m != me and (only is None or m in only)]
        plaintext = _wire.content_bytes(content)
        sealed: list[bytes] = []

        async def on_commit(tx: Any, message: bytes) -> None:
            if ephemeral:
                sealed.append(message)
            else:
                for member in recipients:
                    transport = f"{content.id}.{member}"
                    await self.signaling.queue(tx, member, _wire.payload(message, group_id), transport)
                    if receipts:
                        tx.write("INSERT INTO messaging_group_receipts (message_id, member, transport_id, status) "
                                 "VALUES (?, ?, ?, 'queued') ON CONFLICT(message_id, member) DO UPDATE SET "
                                 "status = 'queued'", (content.id, member, transport))
            if store is not None:
                store(tx)

        try:
            await self.crypto.encrypt_group(group_id, plaintext, on_commit=on_commit)
        except Exception as exc:
            if type(exc).__name__ == "ConstraintError" and content.kind == "text" and receipts and only is None:
                raise AlreadySentError(content.id) from None  # an id of ours already (as in _seal)
            raise
        if sealed:
            for member in recipients:
                self.signaling.enqueue(member, _wire.payload(sealed[0], group_id), f"{content.id}.{member}")
        else:
            await self.signaling.wake()

    async def _has_due(self, group_id: str) -> bool:
        return await self.db.fetchone("SELECT 1 FROM messaging_group_due WHERE group_id = ? LIMIT 1",
                                      (group_id,)) is not None

    async def _group_progress(self, transport_id: object, status: str) -> tuple[str, str, str] | None:
        """Signaling's answer for one member's copy: ``(conversation, message id, new status)``
        if the message's own status moved, else None (not a group copy, or no change)."""
        if not isinstance(transport_id, str) or "." not in transport_id:
            return None
        frm = ("queued",) if status in ("sent", "failed") else ()
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                f"UPDATE messaging_group_receipts SET status = ? WHERE transport_id = ? AND status IN "
                f"({','.join('?' * len(frm))}) RETURNING message_id", (status, transport_id, *frm))
            if row is None:
                return None
            moved = await self._aggregate(tx, [row[0]])
        return moved[0] if moved else None

    @staticmethod
    async def _aggregate(tx: Any, message_ids: list[str]) -> list[tuple[str, str, str]]:
        """Bring each group message's own status to the least of its members'; what moved."""
        moved = []
        for message_id in message_ids:
            rows = await tx.fetchall("SELECT status FROM messaging_group_receipts WHERE message_id = ?", (message_id,))
            status = aggregate([r[0] for r in rows])
            row = await tx.fetchone("UPDATE messaging_messages SET status = ? WHERE direction = 'out' AND id = ? "
                                    "AND status != ? RETURNING peer", (status, message_id, status))
            if row is not None:
                moved.append((str(row[0]), message_id, status))
        return moved

    async def _group_receipt(self, tx: Any, sender: str, kind: str, refs: tuple[str, ...]) -> list[tuple[str, str, str]]:
        """A member's delivered/read receipt for our group messages, in the receiving transaction."""
        frm = ("queued", "sent") if kind == "delivered" else ("queued", "sent", "delivered")
        marks = ",".join("?" * len(refs))
        rows = await tx.fetchall(
            f"UPDATE messaging_group_receipts SET status = ? WHERE member = ? AND message_id IN ({marks}) "
            f"AND status IN ({','.join('?' * len(frm))}) RETURNING message_id", (kind, sender, *refs, *frm))
        return await self._aggregate(tx, [r[0] for r in rows]) if rows else []

    # ------------------------------------------------------------------ receiving controls
    async def _apply_control(self, tx: Any, sender: str, control: GroupControl) -> tuple[str, str] | None:
        """A group control from ``sender`` (pairwise, authenticated), in the receiving
        transaction: ``(group id, change)``, or None when it is void (not theirs to say)."""
        me = str(self.identity.user_id)
        found = await self._load_group(tx, control.id)
        group_id, action = control.id, control.action
        if action == "key":
            if found is not None and found["state"] == "active" and sender in found["members"]:
                await self.crypto.accept_distribution(group_id, sender, control.key, tx=tx)
                return group_id, "key"
            if found is not None and found["state"] != "active":
                return None
            await self._wait_key(tx, group_id, sender, control.key)
            return group_id, "waiting"
        if action in ("invite", "update"):
            if me not in control.members:
                if found is not None and found["admin"] == sender and found["state"] == "active":
                    tx.write("UPDATE messaging_groups SET state = 'removed', updated_at = ? WHERE group_id = ?",
                             (_ms(), group_id))
                    return group_id, "removed"
                return None
            joined = found is None or found["state"] != "active"
            if joined and action == "update":
                return None  # an update for a group we are not in: the invitation is what counts
            if not joined and found["admin"] != sender:  # type: ignore[index]
                return None
            if joined and control.admin != sender:
                return None
            members = sorted(set(control.members))
            now = _ms()
            if found is None:
                try:
                    await self.crypto.create_group(group_id, members, tx=tx)
                except Exception as exc:  # our sender key for it exists already (a key came first)
                    if self.crypto.refusal_reason(exc) != "unknown_group":
                        raise
                tx.write(f"INSERT INTO messaging_groups ({_GROUP_COLUMNS}) VALUES (?, ?, ?, ?, 'active', ?, ?)",
                         (group_id, control.name, json.dumps(members), control.admin, now, now))
            else:
                tx.write("UPDATE messaging_groups SET name = ?, members = ?, admin = ?, state = 'active', "
                         "updated_at = ? WHERE group_id = ?",
                         (control.name, json.dumps(members), control.admin, now, group_id))
            await self.crypto.accept_distribution(group_id, sender, control.key, tx=tx)
            await self._take_waiting(tx, group_id, members)
            before = [] if joined else found["members"]  # type: ignore[index]
            gone = [m for m in before if m not in members and m != me]
            for member in gone:
                await self.crypto.remove_member(group_id, member, tx=tx)
            others = [m for m in members if m != me]
            if joined:
                key = await self.crypto.group_distribution(group_id, tx=tx)
                self._due(tx, group_id, others, "key", key)
                return group_id, "joined"
            key = await self.crypto.group_distribution(group_id, tx=tx)
            if gone:  # our key was rotated: everyone left gets the new one
                self._due(tx, group_id, others, "key", key)
            else:
                self._due(tx, group_id, [m for m in members if m not in before and m != me], "key", key)
            if set(members) != set(before):
                return group_id, "members"
            return group_id, "renamed" if control.name != found["name"] else "update"  # type: ignore[index]
        if found is None or found["state"] != "active":
            return None
        if action == "removed":
            if sender != found["admin"]:
                return None
            tx.write("UPDATE messaging_groups SET state = 'removed', updated_at = ? WHERE group_id = ?",
                     (_ms(), group_id))
            return group_id, "removed"
        # leave
        if sender not in found["members"]:
            return None
        remaining = [m for m in found["members"] if m != sender]
        tx.write("UPDATE messaging_groups SET members = ?, admin = ?, updated_at = ? WHERE group_id = ?",
                 (json.dumps(remaining), _next_admin(found["admin"], remaining, sender), _ms(), group_id))
        key = await self.crypto.remove_member(group_id, sender, tx=tx)
        self._due(tx, group_id, [m for m in remaining if m != me], "key", key)
        return group_id, "members"

    async def _wait_key(self, tx: Any, group_id: str, member: str, key: bytes) -> None:
        """A key before its group's invitation (or before the update naming its sender): kept,
        at most ``_WAITING_PER_GROUP`` per group and ``_WAITING_MAX`` in all (the oldest go)."""
        tx.write("INSERT INTO messaging_group_waiting (group_id, member, key, received_at) VALUES (?, ?, ?, ?) "
                 "ON CONFLICT(group_id, member) DO UPDATE SET key = excluded.key, received_at = excluded.received_at",
                 (group_id, member, key, _ms()))
        tx.write("DELETE FROM messaging_group_waiting WHERE rowid IN (SELECT rowid FROM messaging_group_waiting "
                 "WHERE group_id = ? ORDER BY received_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
                 (group_id, _WAITING_PER_GROUP))
        tx.write("DELETE FROM messaging_group_waiting WHERE rowid IN (SELECT rowid FROM messaging_group_waiting "
                 "ORDER BY received_at DESC, rowid DESC LIMIT -1 OFFSET ?)", (_WAITING_MAX,))

    async def _take_waiting(self, tx: Any, group_id: str, members: list[str]) -> None:
        rows = await tx.fetchall("SELECT member, key FROM messaging_group_waiting WHERE group_id = ?", (group_id,))
        for member, key in rows:
            if member in members:
                await self.crypto.accept_distribution(group_id, member, bytes(key), tx=tx)
                tx.write("DELETE FROM messaging_group_waiting WHERE group_id = ? AND member = ?", (group_id, member))

    # ------------------------------------------------------------------ receiving group messages
    async def _park(self, sender: str, group_id: str, envelope: bytes, relay_id: str) -> str:
        """Acknowledge a group message that cannot be opened yet and keep it sealed (bounded)."""
        async with self.db.transaction() as tx:
            counts = await tx.fetchone("SELECT count(*), sum(group_id = ?) FROM messaging_group_parked", (group_id,))
            total, here = (int(counts[0] or 0), int(counts[1] or 0)) if counts else (0, 0)
            if not await self.signaling.acknowledge(tx, relay_id):
                return "already stored"
            if total >= _PARKED_MAX or here >= _PARKED_PER_GROUP:
                return "full"
            tx.write("INSERT OR IGNORE INTO messaging_group_parked (relay_id, group_id, sender, envelope, received_at) "
                     "VALUES (?, ?, ?, ?, ?)", (relay_id, group_id, sender, envelope, _ms()))
        return "parked"

    async def _parked(self, group_id: str) -> list[tuple[str, str, bytes]]:
        rows = await self.db.fetchall("SELECT relay_id, sender, envelope FROM messaging_group_parked "
                                      "WHERE group_id = ? ORDER BY received_at, rowid", (group_id,))
        return [(str(r[0]), str(r[1]), bytes(r[2])) for r in rows]


def _never(exc: BaseException) -> bool:
    """A send that can never succeed: the relay knows no such user, or hands out a forged bundle
    (signaling's errors, by name: features never import each other)."""
    name = type(exc).__name__
    return (name == "NoBundleError" and getattr(exc, "code", None) == "unknown_user") or name == "InvalidBundleError"


def _next_admin(admin: str, remaining: list[str], leaving: str) -> str:
    """Who is admin once ``leaving`` is gone: the same, or (the admin left) the least user id of
    those remaining, which every member computes alike."""
    if admin != leaving or not remaining:
        return admin
    return min(remaining)
