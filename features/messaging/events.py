"""The messaging feature's communication contract: what it says and hears.

A group's conversation id (``group:<32 hex>``) is the ``peer`` of its messages' events; the
author (who wrote it) is ``author``.

Payloads carry ids, user ids and reasons, never a body or a key: the body is read from the
profile database (``MessagingService.history``), where it was stored in the transaction that
committed the ratchet step.

Heard
    SIGNALING_CONNECTED        upload prekeys (the relay's count is checked at every connect)
    CRYPTO_SESSION_STARTED     a peer used one of our one-time prekeys: check the count, refill
    RELAY_MESSAGE_RECEIVED     an envelope from the relay: open it, store it, acknowledge it
    RELAY_MESSAGE_SENT / RELAY_SEND_FAILED   the relay accepted (or refused for good) one of ours
    PERSISTENCE_OPENED / PERSISTENCE_LOCKED, IDENTITY_LOADED / IDENTITY_CREATED /
    IDENTITY_FORGOTTEN         ready or locked
"""

from __future__ import annotations

from typing import Literal

from chatkernel import EventSpec

__all__ = [
    "EMITTED",
    "GROUP_CHANGED",
    "PEER_TYPING",
    "PREKEYS_PUBLISHED",
    "RECEIPT_RECEIVED",
    "SECURE_MESSAGE_CHANGED",
    "SECURE_MESSAGE_FAILED",
    "SECURE_MESSAGE_RECEIVED",
    "SECURE_MESSAGE_SENT",
    "SUBSCRIBED",
    "UNREADABLE_MESSAGE",
]

SECURE_MESSAGE_RECEIVED = EventSpec(
    "SECURE_MESSAGE_RECEIVED", "HIGH", "a text message was decrypted and stored (read it with history())",
    {"peer": str, "id": str, "kind": str, "sent_at": int, "author": str})
SECURE_MESSAGE_SENT = EventSpec(
    "SECURE_MESSAGE_SENT", "MEDIUM", "the relay accepted one of our sealed messages",
    {"peer": str, "id": str})
SECURE_MESSAGE_FAILED = EventSpec(
    "SECURE_MESSAGE_FAILED", "HIGH", "the relay refused one of our sealed messages for good",
    {"peer": str, "id": str, "reason": str})
SECURE_MESSAGE_CHANGED = EventSpec(
    "SECURE_MESSAGE_CHANGED", "MEDIUM", "peer edited or deleted one of their messages (re-read it)",
    {"peer": str, "id": str, "change": Literal["edited", "deleted"]})
RECEIPT_RECEIVED = EventSpec(
    "RECEIPT_RECEIVED", "MEDIUM", "peer says these messages of ours were delivered (or read) there",
    {"peer": str, "kind": Literal["delivered", "read"], "ids": list[str]})
PEER_TYPING = EventSpec("PEER_TYPING", "LOW", "author is typing in peer's conversation (sealed, never stored)",
                        {"peer": str, "author": str})
GROUP_CHANGED = EventSpec(
    "GROUP_CHANGED", "MEDIUM", "a group was created, joined, renamed, changed members, left or we were removed",
    {"group": str, "change": Literal["created", "joined", "renamed", "members", "left", "removed"], "by": str})
UNREADABLE_MESSAGE = EventSpec(
    "UNREADABLE_MESSAGE", "MEDIUM", "a message from peer was dropped: it could not be opened or read",
    {"peer": str, "relay_id": str, "reason": str})
PREKEYS_PUBLISHED = EventSpec(
    "PREKEYS_PUBLISHED", "LOW", "the relay holds our signed prekey and this many one-time prekeys",
    {"remaining": int, "accepted": int, "trigger": Literal["connected", "session_started", "manual"]})

EMITTED = (SECURE_MESSAGE_RECEIVED, SECURE_MESSAGE_SENT, SECURE_MESSAGE_FAILED, SECURE_MESSAGE_CHANGED,
           RECEIPT_RECEIVED, PEER_TYPING, UNREADABLE_MESSAGE, PREKEYS_PUBLISHED, GROUP_CHANGED)
SUBSCRIBED = ("SIGNALING_CONNECTED", "CRYPTO_SESSION_STARTED", "RELAY_MESSAGE_RECEIVED", "RELAY_MESSAGE_SENT",
              "RELAY_SEND_FAILED", "PERSISTENCE_OPENED", "PERSISTENCE_LOCKED", "IDENTITY_LOADED",
              "IDENTITY_CREATED", "IDENTITY_FORGOTTEN")
