"""The contact list: who the user talks to, under the names they chose, and what the list shows.

Identity pins each contact's keys (trust on first use) and owns trust; this service keeps the
list around it: the user's name for each contact, blocked or not, presence and the chat's
unread count. Every operation validates its input and raises a precise error before anything
is written; the list in memory changes only after its row committed::

    entry = await contacts.add(invite, "Bob")        # identity pins, the list holds "Bob"
    await contacts.verify(bob, "05123 ...")         # the 60 digits Bob reads out; else refused
    await contacts.block(bob)                         # chat drops what Bob sends
    contacts.list()                                   # name order: presence, unread, trust

Presence is what this side saw: a contact is ``online`` for ``presence_window_s`` after their
last message. The relay is never asked who is connected (it would learn who watches whom).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chatkernel import LabelError, normalize_label
from chatkernel.relay.protocol import is_user_id

from . import events as ev
from ._api import IdentityAPI, PersistenceAPI
from ._config import ContactsConfig
from .errors import (
    ContactListFullError,
    InvalidContactNameError,
    NotReadyError,
    SafetyNumberMismatchError,
    UnknownContactError,
)

__all__ = ["ContactsService", "Entry"]

Emit = Callable[..., Any]
Listener = Callable[[str, dict[str, Any]], None]
_LAST_SEEN_WRITE_MS = 60_000  # a contact's last_seen row is written at most once a minute


def _ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Entry:
    user_id: str
    name: str
    added_at: int
    blocked: bool = False
    last_seen: int | None = None


class ContactsService:
    """``add``, ``list``, ``get``, ``rename``, ``verify``, ``block``, ``unblock``, ``remove``,
    ``select`` for callers and the UI; ``load``, ``forget``, ``seen`` and ``unread_changed``
    for the machine."""

    def __init__(self, db: PersistenceAPI, identity: IdentityAPI, config: ContactsConfig | None = None,
                 emit: Emit | None = None, *, logger: logging.Logger | None = None,
                 clock: Callable[[], int] = _ms):
        self.db = db
        self.identity = identity
        self.config = config or ContactsConfig()
        self._emit = emit
        self.log = logger or logging.getLogger("chatkernel.features.contacts")
        self.listener: Listener | None = None
        self._clock = clock
        self._entries: dict[str, Entry] = {}
        self._owner: str | None = None  # the identity the list in memory belongs to
        self._unread: dict[str, int] = {}
        self._written_seen: dict[str, int] = {}
        self._offline_timers: dict[str, asyncio.TimerHandle] = {}
        self._lock = asyncio.Lock()
        self.selected: str | None = None
        self.last_error: dict[str, str] | None = None  # the last refused command, for the panel

    # ------------------------------------------------------------------ readiness
    @property
    def ready(self) -> bool:
        return self.db.state == "open" and self.identity.user_id is not None and self._owner == self.identity.user_id

    def _require_ready(self) -> str:
        if self.db.state != "open":
            raise NotReadyError("the profile database is not open")
        me = self.identity.user_id
        if me is None:
            raise NotReadyError("no identity is loaded")
        if self._owner != me:
            raise NotReadyError("the contact list is still loading")
        return me

    def _say(self, spec: Any, payload: dict[str, Any]) -> None:
        if self._emit is not None:
            self._emit(spec, payload)

    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    def failed(self, operation: str, exc: BaseException) -> None:
        """A command (or the load) was refused: kept for the panel, which redraws."""
        self.last_error = {"operation": operation, "kind": type(exc).__name__,
                           "reason": getattr(exc, "reason", None) or str(exc)}
        self._notify("LOAD_FAILED" if operation == "load" else "CHANGED", user_id=None)

    async def load(self) -> int:
        """Read the loaded identity's list (at log-in); how many entries it holds."""
        me = self.identity.user_id
        if self.db.state != "open" or me is None:
            raise NotReadyError("log in first")
        rows = await self.db.fetchall("SELECT user_id, name, added_at, blocked, last_seen FROM contacts_entries")
        if self.identity.user_id != me:  # logged out (or another identity) meanwhile
            raise NotReadyError("the identity changed while the list was read")
        self.forget()
        self._entries = {r[0]: Entry(r[0], r[1], int(r[2]), bool(r[3]), None if r[4] is None else int(r[4]))
                         for r in rows}
        self._written_seen = {e.user_id: e.last_seen for e in self._entries.values() if e.last_seen is not None}
        self._owner = me
        self._notify("LOADED", count=len(self._entries))
        return len(self._entries)

    def forget(self) -> None:
        """Drop the list from memory (log-out, lock): it belongs to the identity that left."""
        for timer in self._offline_timers.values():
            timer.cancel()
        self._offline_timers.clear()
        self._entries, self._unread, self._written_seen = {}, {}, {}
        self._owner, self.selected, self.last_error = None, None, None

    # ------------------------------------------------------------------ checks
    def _check_user_id(self, user_id: object) -> str:
        if not is_user_id(user_id):
            raise UnknownContactError(user_id)
        return str(user_id)

    def _entry(self, user_id: object) -> Entry:
        self._require_ready()
        entry = self._entries.get(self._check_user_id(user_id))
        if entry is None:
            raise UnknownContactError(user_id)
        return entry

    def _name(self, name: object) -> str:
        try:
            return normalize_label(name, max_chars=self.config.max_name_chars)
        except LabelError as exc:
            raise InvalidContactNameError(name, exc.reason) from None

    # ------------------------------------------------------------------ reading
    def presence(self, entry: Entry, now: int | None = None) -> str:
        if entry.last_seen is None:
            return "offline"
        now = self._clock() if now is None else now
        return "online" if now - entry.last_seen < self.config.presence_window_s * 1000 else "offline"

    def _view(self, entry: Entry, now: int) -> dict[str, Any]:
        try:
            pin = self.identity.contact(entry.user_id)
        except Exception:  # noqa: BLE001 - no pin (cannot happen for an added contact): show it as such
            pin = {}
        return {"user_id": entry.user_id, "name": entry.name, "added_at": entry.added_at, "blocked": entry.blocked,
                "presence": self.presence(entry, now), "last_seen": entry.last_seen,
                "unread": self._unread.get(entry.user_id, 0), "trust": pin.get("status", "unknown"),
                "fingerprint": pin.get("fingerprint"), "relay_url": pin.get("relayUrl")}

    def list(self) -> list[dict[str, Any]]:
        """Every contact, by name (case-folded) then user id: name, presence, unread, trust, blocked."""
        self._require_ready()
        now = self._clock()
        ordered = sorted(self._entries.values(), key=lambda e: (e.name.casefold(), e.user_id))
        return [self._view(e, now) for e in ordered]

    def get(self, user_id: str) -> dict[str, Any]:
        return self._view(self._entry(user_id), self._clock())

    def is_blocked(self, user_id: str) -> bool:
        """Whether chat must drop what ``user_id`` sends and refuse to send to them."""
        entry = self._entries.get(user_id)
        return entry is not None and entry.blocked

    def is_contact(self, user_id: str) -> bool:
        return user_id in self._entries

    def safety_number(self, user_id: str) -> str:
        """The 60 digits to compare with the contact (identity computes them from the pinned keys)."""
        return self.identity.safety_number(self._entry(user_id).user_id)

    # ------------------------------------------------------------------ changing
    async def add(self, invite: str, name: str | None = None) -> dict[str, Any]:
        """Add the contact an invite (or the text of its QR code) names; their entry.

        Identity checks the invite (format, checksum, fingerprint binding the keys to the user
        id) and pins the keys, or raises the error that says why. ``name`` defaults to the
        first characters of the user id; an invite already in the list returns its entry
        unchanged (give a new name with :meth:`rename`)."""
        self._require_ready()
        chosen = None if name is None or (isinstance(name, str) and not name.strip()) else self._name(name)
        async with self._lock:
            record = await self.identity.add_contact(invite.strip() if isinstance(invite, str) else invite,
                                                     display_name=chosen)
            user_id = str(record["userId"])
            known = self._entries.get(user_id)
            if known is not None:
                return self.get(user_id)
            if len(self._entries) >= self.config.max_contacts:
                raise ContactListFullError(self.config.max_contacts)
            entry = Entry(user_id, chosen or f"Contact {user_id[:6]}", self._clock())
            owner = self._owner
            await self.db.execute("INSERT INTO contacts_entries (user_id, name, added_at, blocked, last_seen) "
                                  "VALUES (?, ?, ?, 0, NULL)", (entry.user_id, entry.name, entry.added_at))
            if self._owner != owner:
                raise NotReadyError("logged out while the contact was added (it is stored)")
            self._entries[user_id] = entry
        self.log.info("contact %s added", user_id)
        self._say(ev.CONTACT_ADDED, {"user_id": user_id, "name": entry.name})
        self._notify("CHANGED", user_id=user_id)
        return self.get(user_id)

    async def _update(self, entry: Entry, **changes: Any) -> Entry:
        updated = replace(entry, **changes)
        columns = ", ".join(f"{column} = ?" for column in changes)
        values = [int(v) if isinstance(v, bool) else v for v in changes.values()]
        owner = self._owner
        if not await self.db.execute(f"UPDATE contacts_entries SET {columns} WHERE user_id = ?",
                                     (*values, entry.user_id)):
            raise UnknownContactError(entry.user_id)
        if self._owner == owner and entry.user_id in self._entries:
            self._entries[entry.user_id] = updated
        return updated

    async def rename(self, user_id: str, name: str) -> dict[str, Any]:
        new = self._name(name)
        async with self._lock:
            entry = self._entry(user_id)
            if entry.name != new:
                await self._update(entry, name=new)
                self._say(ev.CONTACT_RENAMED, {"user_id": entry.user_id, "name": new})
                self._notify("CHANGED", user_id=entry.user_id)
        return self.get(user_id)

    async def _set_blocked(self, user_id: str, blocked: bool) -> dict[str, Any]:
        async with self._lock:
            entry = self._entry(user_id)
            if entry.blocked != blocked:
                await self._update(entry, blocked=blocked)
                self.log.info("contact %s %s", entry.user_id, "blocked" if blocked else "unblocked")
                self._say(ev.CONTACT_BLOCKED, {"user_id": entry.user_id, "blocked": blocked})
                self._notify("CHANGED", user_id=entry.user_id)
        return self.get(user_id)

    async def block(self, user_id: str) -> dict[str, Any]:
        """Block: chat drops what they send (their messages are still decrypted, so the session
        stays in step) and refuses to send to them, until :meth:`unblock`."""
        return await self._set_blocked(user_id, True)

    async def unblock(self, user_id: str) -> dict[str, Any]:
        return await self._set_blocked(user_id, False)

    async def remove(self, user_id: str) -> None:
        """Take the contact off the list. Their pinned key stays with identity, so adding them
        again later with other keys alerts (KEY_CHANGED) instead of trusting the new keys."""
        async with self._lock:
            entry = self._entry(user_id)
            owner = self._owner
            await self.db.execute("DELETE FROM contacts_entries WHERE user_id = ?", (entry.user_id,))
            if self._owner == owner:
                self._entries.pop(entry.user_id, None)
                self._unread.pop(entry.user_id, None)
                timer = self._offline_timers.pop(entry.user_id, None)
                if timer is not None:
                    timer.cancel()
                if self.selected == entry.user_id:
                    self.selected = None
        self._say(ev.CONTACT_REMOVED, {"user_id": entry.user_id})
        self._notify("CHANGED", user_id=entry.user_id)

    def select(self, user_id: str) -> None:
        """The user picked this contact: CONTACT_SELECTED (the chat opens the conversation)."""
        entry = self._entry(user_id)
        self.selected = entry.user_id
        self._say(ev.CONTACT_SELECTED, {"user_id": entry.user_id})
        self._notify("CHANGED", user_id=entry.user_id)

    async def verify(self, user_id: str, number: str) -> dict[str, Any]:
        """Compare the digits the contact reads out (spaces and line breaks allowed) with the
        safety number; if they match, identity marks the pin verified (CONTACT_VERIFIED). A
        mismatch raises :class:`SafetyNumberMismatchError` and marks nothing."""
        entry = self._entry(user_id)
        if not isinstance(number, str):
            raise SafetyNumberMismatchError(entry.user_id)
        digits = "".join(number.split())
        expected = self.identity.safety_number(entry.user_id)
        if len(digits) != len(expected) or not digits.isdigit() or \
                not hmac.compare_digest(digits.encode(), expected.encode()):
            self.log.warning("contact %s: the safety number given does not match", entry.user_id)
            raise SafetyNumberMismatchError(entry.user_id)
        await self.identity.mark_verified(entry.user_id)
        self._notify("CHANGED", user_id=entry.user_id)
        return self.get(entry.user_id)

    # ------------------------------------------------------------------ what others say
    async def seen(self, user_id: str) -> None:
        """A message from ``user_id`` arrived: online now, offline after the window."""
        entry = self._entries.get(user_id)
        if entry is None or not self.ready:
            return
        now = self._clock()
        was = self.presence(entry, now)
        entry = replace(entry, last_seen=now)
        self._entries[user_id] = entry
        self._arm_offline(user_id)
        if was != "online":
            self._say(ev.PRESENCE_CHANGED, {"user_id": user_id, "presence": "online", "last_seen": now})
            self._notify("CHANGED", user_id=user_id)
        if now - self._written_seen.get(user_id, 0) >= _LAST_SEEN_WRITE_MS:
            self._written_seen[user_id] = now
            try:
                await self.db.execute("UPDATE contacts_entries SET last_seen = ? WHERE user_id = ?", (now, user_id))
            except Exception as exc:  # noqa: BLE001 - the database closed meanwhile: presence is not worth an error
                self.log.info("last seen of %s not stored: %s", user_id, exc)

    def _arm_offline(self, user_id: str) -> None:
        timer = self._offline_timers.pop(user_id, None)
        if timer is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._offline_timers[user_id] = loop.call_later(self.config.presence_window_s, self._went_offline, user_id)

    def _went_offline(self, user_id: str) -> None:
        self._offline_timers.pop(user_id, None)
        entry = self._entries.get(user_id)
        if entry is None or self.presence(entry) != "offline":
            return
        self._say(ev.PRESENCE_CHANGED, {"user_id": user_id, "presence": "offline", "last_seen": entry.last_seen})
        self._notify("CHANGED", user_id=user_id)

    def unread_changed(self, peer: object, unread: object) -> None:
        """The chat's unread count for a conversation (kept in memory; chat stores the truth)."""
        if not isinstance(peer, str) or isinstance(unread, bool) or not isinstance(unread, int) or unread < 0:
            return
        if self._unread.get(peer, 0) != unread:
            self._unread[peer] = unread
            if peer in self._entries:
                self._notify("CHANGED", user_id=peer)

    def __repr__(self) -> str:
        return f"ContactsService(ready={self.ready}, contacts={len(self._entries)}, selected={self.selected!r})"
