"""The chat feature's communication contract: what it says and what it hears.

Payloads carry conversation ids, user ids, message ids, counts and reasons, never a body: a
body is read from the chat service (``ChatService.history`` / ``message``), which reads the
profile database. A conversation id is the peer's user id for a one-to-one chat, the group's id
(``"group:"`` and 32 hex digits) for a group; there ``peer`` names the member (the author of a
message, who is typing).

Emitted
    MESSAGE_RECEIVED      a message from the peer was stored and is in the conversation (HIGH)
    MESSAGE_SENT          the relay accepted one of ours (MEDIUM)
    MESSAGE_FAILED        one of ours could not be sent: refused for good, or not sendable (a
                          blocked contact, a changed key); ``retry`` sends it again (HIGH)
    MESSAGE_DELIVERED     the peer's device stored these of ours (an encrypted receipt) (MEDIUM)
    MESSAGE_READ          the peer read these of ours (an encrypted receipt) (MEDIUM)
    MESSAGE_EDITED / MESSAGE_DELETED  a message changed (either side's edit or tombstone) (LOW)
    TYPING_STARTED        the peer is typing (LOW; never stored)
    CONVERSATION_OPENED / CONVERSATION_CLOSED  a conversation was opened in (closed from) a window
    UNREAD_CHANGED        the count of the peer's messages not read yet (LOW)

Heard
    IDENTITY_LOADED / IDENTITY_CREATED     read the unread counts and the unsent messages
    IDENTITY_FORGOTTEN / PERSISTENCE_LOCKED  forget everything in memory (log-out, lock)
    SECURE_MESSAGE_RECEIVED / SECURE_MESSAGE_SENT / SECURE_MESSAGE_FAILED / SECURE_MESSAGE_CHANGED /
    RECEIPT_RECEIVED / PEER_TYPING          messaging's news, forwarded to the conversation actor
    SIGNALING_CONNECTED    send what was written while offline
    CONTACT_SELECTED / NOTIFICATION_CLICKED  open that conversation
    GROUP_SELECTED        open that group's conversation (the groups feature; idle without it)
    GROUP_CHANGED         read the group again (created, joined, renamed, members, left, removed)
    CONTACT_BLOCKED / CONTACT_RENAMED / CONTACT_REMOVED / CONTACT_ADDED / KEY_CHANGED / KEY_ACCEPTED
                          redraw (a blocked contact, or one whose key changed, cannot be written to)
    UNREADABLE_MESSAGE    a message from the peer was dropped (tampered, replayed): the window says so

Commands the chat actor accepts (``fire(actor, ...)`` from UI code): OPEN / CLOSE
{conversation}, SEND {conversation, text, reply_to}, EDIT {conversation, message_id, text},
DELETE / RETRY {conversation, message_id}, READ {conversation, up_to}, TYPING {conversation},
OLDER {conversation}.
"""

from __future__ import annotations

from chatkernel import EventSpec

__all__ = ["CONVERSATION_CLOSED", "CONVERSATION_OPENED", "EMITTED", "MESSAGE_DELETED", "MESSAGE_DELIVERED",
           "MESSAGE_EDITED", "MESSAGE_FAILED", "MESSAGE_READ", "MESSAGE_RECEIVED", "MESSAGE_SENT", "SUBSCRIBED",
           "TYPING_STARTED", "UNREAD_CHANGED"]

MESSAGE_RECEIVED = EventSpec("MESSAGE_RECEIVED", "HIGH", "a message from the peer is in the conversation",
                             {"conversation": str, "peer": str, "id": str, "sent_at": int})
MESSAGE_SENT = EventSpec("MESSAGE_SENT", "MEDIUM", "the relay accepted one of our messages",
                         {"conversation": str, "id": str})
MESSAGE_FAILED = EventSpec("MESSAGE_FAILED", "HIGH", "one of our messages could not be sent (retry sends it again)",
                           {"conversation": str, "id": str, "reason": str})
MESSAGE_DELIVERED = EventSpec("MESSAGE_DELIVERED", "MEDIUM", "the peer's device stored these messages of ours",
                              {"conversation": str, "ids": list[str]})
MESSAGE_READ = EventSpec("MESSAGE_READ", "MEDIUM", "the peer read these messages of ours",
                         {"conversation": str, "ids": list[str]})
MESSAGE_EDITED = EventSpec("MESSAGE_EDITED", "LOW", "a message's text was replaced (by its author)",
                           {"conversation": str, "id": str})
MESSAGE_DELETED = EventSpec("MESSAGE_DELETED", "LOW", "a message became a tombstone (deleted by its author)",
                            {"conversation": str, "id": str})
TYPING_STARTED = EventSpec("TYPING_STARTED", "LOW", "the peer is typing", {"conversation": str, "peer": str})
CONVERSATION_OPENED = EventSpec("CONVERSATION_OPENED", "MEDIUM", "a conversation was opened in a window",
                                {"conversation": str})
CONVERSATION_CLOSED = EventSpec("CONVERSATION_CLOSED", "MEDIUM", "a conversation was closed",
                                {"conversation": str})
UNREAD_CHANGED = EventSpec("UNREAD_CHANGED", "LOW", "how many of the peer's messages are not read yet",
                           {"conversation": str, "unread": int})

EMITTED = (MESSAGE_RECEIVED, MESSAGE_SENT, MESSAGE_FAILED, MESSAGE_DELIVERED, MESSAGE_READ, MESSAGE_EDITED,
           MESSAGE_DELETED, TYPING_STARTED, CONVERSATION_OPENED, CONVERSATION_CLOSED, UNREAD_CHANGED)
SUBSCRIBED: tuple[str, ...] = (
    "IDENTITY_LOADED", "IDENTITY_CREATED", "IDENTITY_FORGOTTEN", "PERSISTENCE_LOCKED",
    "SECURE_MESSAGE_RECEIVED", "SECURE_MESSAGE_SENT", "SECURE_MESSAGE_FAILED", "SECURE_MESSAGE_CHANGED",
    "RECEIPT_RECEIVED", "PEER_TYPING", "SIGNALING_CONNECTED", "CONTACT_SELECTED", "NOTIFICATION_CLICKED",
    "CONTACT_BLOCKED", "CONTACT_RENAMED", "CONTACT_REMOVED", "CONTACT_ADDED", "KEY_CHANGED", "KEY_ACCEPTED",
    "UNREADABLE_MESSAGE", "GROUP_SELECTED", "GROUP_CHANGED")
