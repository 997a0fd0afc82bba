"""Groups as the user sees them: named conversations with contacts, checked before messaging
changes anything, with every member shown under the name the user gave them.

Messaging owns a group (its record, its keys, who may change it); this service checks what the
user asks for, asks messaging, and keeps the list messaging returns so a panel can draw it
without waiting. The list is read again at every GROUP_CHANGED, whoever caused it::

    group = (await groups.create("Climbing", [bob, carol]))["group"]   # contacts, not blocked
    await groups.rename(group, "Climbing club")                         # admin only (messaging)
    await groups.remove(group, carol)
    groups.listed()        # name order: members named as in the contacts ("You" for us), state

A group we left, or were removed from, stays in the list, read-only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from chatkernel import ChatKernelError, LabelError, normalize_label
from chatkernel.relay.protocol import is_user_id

from . import events as ev
from ._api import ContactsAPI, IdentityAPI, MessagingAPI
from ._config import GroupsConfig
from .errors import (
    AlreadyMemberError,
    BlockedMemberError,
    InvalidGroupError,
    InvalidGroupNameError,
    InvalidMembersError,
    NotAContactError,
    NotAMemberError,
    NotReadyError,
)

__all__ = ["GROUP_PREFIX", "GroupsService", "is_group"]

Emit = Callable[..., Any]
Listener = Callable[[str, dict[str, Any]], None]

#: A group conversation id is this prefix and 32 lowercase hex digits (messaging's format, copied:
#: features never import each other).
GROUP_PREFIX = "group:"
_GROUP_ID = re.compile(r"group:[0-9a-f]{32}")
_UPDATES = {"joined": "joined", "renamed": "renamed", "members": "members"}


def is_group(value: object) -> bool:
    """Whether ``value`` is a group conversation id (not a peer's user id)."""
    return isinstance(value, str) and _GROUP_ID.fullmatch(value) is not None


class GroupsService:
    """``create``, ``rename``, ``invite``, ``remove``, ``leave``, ``list``, ``get`` and ``select``
    for callers and the UI; ``load``, ``forget``, ``refresh`` and ``changed`` for the machine."""

    def __init__(self, identity: IdentityAPI, contacts: ContactsAPI, messaging: MessagingAPI,
                 config: GroupsConfig | None = None, emit: Emit | None = None, *,
                 logger: logging.Logger | None = None):
        self.identity = identity
        self.contacts = contacts
        self.messaging = messaging
        self.config = config or GroupsConfig()
        self._emit = emit
        self.log = logger or logging.getLogger("chatkernel.features.groups")
        self.listener: Listener | None = None
        self._records: dict[str, dict[str, Any]] = {}  # group id -> messaging's record
        self._owner: str | None = None  # the identity the list in memory belongs to
        self._reading = asyncio.Lock()  # reads apply in the order they were made
        self.selected: str | None = None
        self.last_error: dict[str, str] | None = None  # the last refused command, for the panel

    # ------------------------------------------------------------------ readiness
    @property
    def ready(self) -> bool:
        me = self.identity.user_id
        return me is not None and self._owner == me and self.messaging.ready

    def _require_ready(self) -> str:
        me = self.identity.user_id
        if me is None:
            raise NotReadyError("no identity is loaded")
        if not self.messaging.ready:
            raise NotReadyError("messaging is not ready")
        if self._owner != me:
            raise NotReadyError("the group list is still loading")
        return me

    def _say(self, spec: Any, payload: dict[str, Any]) -> None:
        if self._emit is not None:
            self._emit(spec, payload)

    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    def failed(self, operation: str, exc: BaseException) -> None:
        """A command (or the load) was refused: kept for the panel, which redraws."""
        self.last_error = {"operation": operation, "kind": type(exc).__name__, "reason": str(exc)}
        self._notify("LOAD_FAILED" if operation == "load" else "CHANGED", group=None)

    async def load(self) -> int:
        """Read the loaded identity's groups from messaging (at log-in); how many there are."""
        me = self.identity.user_id
        if me is None or not self.messaging.ready:
            raise NotReadyError("log in first")
        async with self._reading:
            rows = await self.messaging.groups()
            if self.identity.user_id != me:  # logged out (or another identity) meanwhile
                raise NotReadyError("the identity changed while the groups were read")
            self.forget()
            self._records = {str(r["group"]): dict(r) for r in rows}
            self._owner = me
        self._notify("LOADED", count=len(self._records))
        return len(self._records)

    def forget(self) -> None:
        """Drop the list from memory (log-out, lock): it belongs to the identity that left."""
        self._records = {}
        self._owner, self.selected, self.last_error = None, None, None

    async def refresh(self) -> None:
        """Read every group again from messaging (after a change); the panel redraws."""
        self._require_ready()
        owner = self._owner
        async with self._reading:
            rows = await self.messaging.groups()
            if self._owner != owner or self.identity.user_id != owner:
                return  # logged out meanwhile: this list is not the one shown
            self._records = {str(r["group"]): dict(r) for r in rows}
        self._notify("CHANGED", group=None)

    async def changed(self, group: object, change: object) -> None:
        """Messaging changed ``group`` (GROUP_CHANGED): read the list again and say what it means
        for the user. Never raises: the change is messaging's, already made."""
        if not self.ready or not is_group(group):
            return
        try:
            await self.refresh()
        except Exception as exc:  # noqa: BLE001 - logged out meanwhile: the next load reads it
            self.log.info("groups not read again after %s of %s: %s", change, group, exc)
            return
        record = self._records.get(str(group))
        if change == "created" and record is not None:
            self._say(ev.GROUP_CREATED, {"group": group, "name": record["name"]})
        elif change in _UPDATES:
            self._say(ev.GROUP_UPDATED, {"group": group, "change": _UPDATES[str(change)]})
        elif change in ("left", "removed"):
            if self.selected == group:
                self.selected = None
            self._say(ev.GROUP_LEFT, {"group": group})

    # ------------------------------------------------------------------ checks
    def _group(self, value: object) -> str:
        if not is_group(value):
            raise InvalidGroupError(value)
        return str(value)

    def _name(self, value: object) -> str:
        try:
            return normalize_label(value, max_chars=self.config.max_name_chars)
        except LabelError as exc:
            raise InvalidGroupNameError(value, exc.reason) from None

    def _user_ids(self, value: object, me: str) -> list[str]:
        """``value`` as a list of distinct user ids of other people, in the order given."""
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise InvalidMembersError(value, f"must be a list of user ids, not {type(value).__name__}")
        if not value:
            raise InvalidMembersError(value, "is empty: pick at least one contact")
        out: list[str] = []
        for member in value:
            if not is_user_id(member):
                raise InvalidMembersError(value, f"hold {member!r}, which is not a user id")
            if member == me:
                raise InvalidMembersError(value, "hold your own user id: you are in every group you make")
            if member in out:
                raise InvalidMembersError(value, f"list {member} twice")
            out.append(str(member))
        return out

    def _size(self, value: object, count: int) -> None:
        if count > self.config.max_members:
            raise InvalidMembersError(value, f"would make {count} besides you; a group holds at most "
                                             f"{self.config.max_members}")

    def _contacts_only(self, members: Iterable[str]) -> None:
        """Every member is a contact (their keys are pinned) and not one the user blocked."""
        if not self.contacts.ready:
            raise NotReadyError("the contact list is still loading")
        for member in members:
            if not self.contacts.is_contact(member):
                raise NotAContactError(member)
            if self.contacts.is_blocked(member):
                raise BlockedMemberError(member, self._contact_name(member) or member)

    def _contact_name(self, user_id: str) -> str | None:
        if not self.contacts.is_contact(user_id):
            return None
        try:
            return str(self.contacts.get(user_id)["name"])
        except (ChatKernelError, KeyError):  # removed (or the list locked) meanwhile
            return None

    def name_of(self, user_id: str) -> str:
        """How a member is shown: "You", the user's name for a contact, else the id's start."""
        if user_id == self.identity.user_id:
            return "You"
        return self._contact_name(user_id) or f"User {user_id[:6]}"

    # ------------------------------------------------------------------ reading
    def _view(self, record: dict[str, Any]) -> dict[str, Any]:
        me = self.identity.user_id
        admin = str(record.get("admin", ""))
        state = str(record.get("state", "active"))
        members = [{"user_id": u, "name": self.name_of(u), "you": u == me, "admin": u == admin,
                    "contact": u != me and self.contacts.is_contact(u)} for u in record.get("members", ())]
        members.sort(key=lambda m: (not m["you"], str(m["name"]).casefold(), m["user_id"]))
        return {"group": record["group"], "name": record["name"], "members": members, "member_count": len(members),
                "admin": admin, "admin_name": self.name_of(admin) if admin else "", "state": state,
                "is_admin": admin == me and state == "active", "read_only": state != "active",
                "created_at": record.get("created_at"), "updated_at": record.get("updated_at")}

    def listed(self) -> list[dict[str, Any]]:
        """The groups as last read (no wait: what a panel draws), by name then id."""
        self._require_ready()
        ordered = sorted(self._records.values(), key=lambda r: (str(r["name"]).casefold(), str(r["group"])))
        return [self._view(r) for r in ordered]

    def candidates(self) -> list[dict[str, Any]]:
        """The contacts a group may hold (not blocked), in the contact list's order: user_id, name."""
        if not self.contacts.ready:
            return []
        return [{"user_id": c["user_id"], "name": c["name"]} for c in self.contacts.list() if not c["blocked"]]

    async def list(self) -> list[dict[str, Any]]:
        """Every group we know, read from messaging now: name, members (named), admin, state."""
        await self.refresh()
        return self.listed()

    async def get(self, group: str) -> dict[str, Any]:
        """One group, read from messaging now (messaging's UnknownGroupError if there is none)."""
        self._require_ready()
        record = dict(await self.messaging.group(self._group(group)))
        self._records[record["group"]] = record
        return self._view(record)

    # ------------------------------------------------------------------ changing
    async def create(self, name: str, members: list[str]) -> dict[str, Any]:
        """A new group named ``name`` with these contacts and us (its admin); its entry."""
        me = self._require_ready()
        chosen = self._name(name)
        wanted = self._user_ids(members, me)
        self._size(members, len(wanted))
        self._contacts_only(wanted)
        group = await self.messaging.create_group(chosen, wanted)
        self.log.info("group %s created with %d members", group, len(wanted))
        return await self._changed(group)

    async def rename(self, group: str, name: str) -> dict[str, Any]:
        """Give the group another name (the admin only: messaging refuses anyone else)."""
        self._require_ready()
        group = self._group(group)
        chosen = self._name(name)
        record = await self.messaging.group(group)
        if record["name"] != chosen:
            await self.messaging.rename_group(group, chosen)
        return await self._changed(group)

    async def invite(self, group: str, members: list[str]) -> dict[str, Any]:
        """Add these contacts to the group (the admin only)."""
        me = self._require_ready()
        group = self._group(group)
        wanted = self._user_ids(members, me)
        record = await self.messaging.group(group)
        present = set(record["members"])
        for member in wanted:
            if member in present:
                raise AlreadyMemberError(group, member, self.name_of(member))
        self._size(members, len(present - {me}) + len(wanted))
        self._contacts_only(wanted)
        await self.messaging.add_members(group, wanted)
        return await self._changed(group)

    async def remove(self, group: str, member: str) -> dict[str, Any]:
        """Take ``member`` out of the group (the admin only); the group's keys change, so they
        read nothing sent after this."""
        me = self._require_ready()
        group = self._group(group)
        if not is_user_id(member):
            raise InvalidMembersError(member, f"hold {member!r}, which is not a user id")
        if member == me:
            raise InvalidMembersError(member, "hold your own user id: leave the group instead")
        record = await self.messaging.group(group)
        if member not in record["members"]:
            raise NotAMemberError(group, member)
        await self.messaging.remove_member(group, member)
        return await self._changed(group)

    async def leave(self, group: str) -> dict[str, Any]:
        """Leave the group: we stop receiving it; it stays in the list, read-only."""
        self._require_ready()
        group = self._group(group)
        await self.messaging.leave_group(group)
        return await self._changed(group)

    async def _changed(self, group: str) -> dict[str, Any]:
        """Our own change is in messaging: the list read again at once (GROUP_CHANGED follows)."""
        await self.refresh()
        return await self.get(group)

    async def select(self, group: str) -> None:
        """The user picked this group: GROUP_SELECTED (the chat opens the conversation)."""
        self._require_ready()
        record = await self.messaging.group(self._group(group))
        self.selected = str(record["group"])
        self._say(ev.GROUP_SELECTED, {"group": self.selected})
        self._notify("CHANGED", group=self.selected)

    def __repr__(self) -> str:
        return f"GroupsService(ready={self.ready}, groups={len(self._records)}, selected={self.selected!r})"
