"""The contacts feature's communication contract: what it says and what it hears.

Payloads carry user ids, names the user gave, presence and counts: no key, no message body.

Emitted
    CONTACT_ADDED      a contact was added to the list from an invite (MEDIUM)
    CONTACT_SELECTED   the user picked a contact: the chat opens that conversation (MEDIUM)
    CONTACT_RENAMED    the user renamed a contact (LOW)
    CONTACT_BLOCKED    a contact was blocked or unblocked (``blocked``); chat drops what a blocked
                       contact sends and refuses to send to them (HIGH)
    CONTACT_REMOVED    a contact left the list; their pinned key stays with identity, so a later
                       invite with other keys still raises KEY_CHANGED (MEDIUM)
    PRESENCE_CHANGED   a contact became ``online`` (a message from them) or ``offline`` (none for
                       ``presence_window_s``) (LOW)

CONTACT_VERIFIED is said by the identity feature, which owns trust: ``verify`` compares the
digits and asks identity to mark the pin.

Heard
    IDENTITY_LOADED / IDENTITY_CREATED   read the list of the loaded identity
    IDENTITY_FORGOTTEN / PERSISTENCE_LOCKED  forget it (log-out, lock)
    CONTACT_PINNED / CONTACT_VERIFIED / KEY_CHANGED / KEY_CHANGE_DISMISSED  trust changed: redraw
    SECURE_MESSAGE_RECEIVED   a message from a contact: they are online now
    UNREAD_CHANGED            the chat's unread count for a conversation

Commands the contacts actor accepts (``fire(actor, ...)`` from UI code): ADD {invite, name},
RENAME {user_id, name}, BLOCK / UNBLOCK / REMOVE / SELECT {user_id}, VERIFY {user_id, number}.
"""

from __future__ import annotations

from typing import Literal

from chatkernel import EventSpec

__all__ = ["CONTACT_ADDED", "CONTACT_BLOCKED", "CONTACT_REMOVED", "CONTACT_RENAMED", "CONTACT_SELECTED", "EMITTED",
           "PRESENCE_CHANGED", "SUBSCRIBED"]

CONTACT_ADDED = EventSpec("CONTACT_ADDED", "MEDIUM", "a contact was added to the list from an invite",
                          {"user_id": str, "name": str})
CONTACT_SELECTED = EventSpec("CONTACT_SELECTED", "MEDIUM", "the user picked a contact (open their conversation)",
                             {"user_id": str})
CONTACT_RENAMED = EventSpec("CONTACT_RENAMED", "LOW", "the user renamed a contact", {"user_id": str, "name": str})
CONTACT_BLOCKED = EventSpec("CONTACT_BLOCKED", "HIGH", "a contact was blocked (or unblocked)",
                            {"user_id": str, "blocked": bool})
CONTACT_REMOVED = EventSpec("CONTACT_REMOVED", "MEDIUM", "a contact left the list (their pinned key stays)",
                            {"user_id": str})
PRESENCE_CHANGED = EventSpec("PRESENCE_CHANGED", "LOW", "a contact came online or went offline",
                             {"user_id": str, "presence": Literal["online", "offline"], "last_seen": int | None})

EMITTED = (CONTACT_ADDED, CONTACT_SELECTED, CONTACT_RENAMED, CONTACT_BLOCKED, CONTACT_REMOVED, PRESENCE_CHANGED)
SUBSCRIBED: tuple[str, ...] = ("IDENTITY_LOADED", "IDENTITY_CREATED", "IDENTITY_FORGOTTEN", "PERSISTENCE_LOCKED",
                               "CONTACT_PINNED", "CONTACT_VERIFIED", "KEY_CHANGED", "KEY_CHANGE_DISMISSED",
                               "SECURE_MESSAGE_RECEIVED", "UNREAD_CHANGED")
