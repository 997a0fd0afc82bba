"""Errors of the messaging feature, one base class::

    MessagingError(ChatKernelError)
    ├── AlreadySentError      a send under an id already sent (a retry after a restart): nothing written
    ├── GroupPermissionError  not ours to do in this group: not its admin, or no longer in it (group, reason)
    ├── InvalidMessageError   a send was refused before anything was written (field, reason)
    ├── NotReadyError         the profile database is closed or no identity is loaded
    ├── OfflineError          a first message (no session yet) needs the relay, and it is not connected
    ├── UnknownGroupError     no group with that id here (group)
    ├── UnknownMessageError   no message with that id in this conversation (peer, message_id)
    └── WireFormatError       a payload from the relay, or a decrypted content, is not ours (reason)

A send that cannot start a session (no bundle on the relay, the relay unreachable, the peer's
key refused) raises the signaling or crypto error that says why; nothing is written then.
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["AlreadySentError", "GroupPermissionError", "InvalidMessageError", "MessagingError", "NotReadyError",
           "OfflineError", "UnknownGroupError", "UnknownMessageError", "WireFormatError"]


class MessagingError(ChatKernelError):
    """Base of every messaging error."""


class InvalidMessageError(MessagingError):
    """A send was refused before anything was sealed or stored."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"cannot send: {field} {reason}")


class AlreadySentError(MessagingError):
    """The id is one of ours already: the message was stored and queued once, so it is not again."""

    def __init__(self, message_id: str):
        self.message_id = message_id
        super().__init__(f"message {message_id} was sent already")


class UnknownMessageError(MessagingError):
    def __init__(self, peer: str, message_id: str):
        self.peer = peer
        self.message_id = message_id
        super().__init__(f"no message {message_id} in the conversation with {peer}")


class UnknownGroupError(MessagingError):
    def __init__(self, group: str):
        self.group = group
        super().__init__(f"no group {group} here")


class GroupPermissionError(MessagingError):
    """Refused before anything was written: only the admin changes a group, only a member speaks."""

    def __init__(self, group: str, reason: str):
        self.group = group
        self.reason = reason
        super().__init__(f"not allowed in group {group}: {reason}")


class OfflineError(MessagingError):
    """No session with the peer yet, and starting one needs their keys from the relay."""

    def __init__(self, peer: str):
        self.peer = peer
        super().__init__(f"not connected: a first message to {peer} needs their keys from the relay")


class NotReadyError(MessagingError):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"messaging is not ready: {reason} (log in first)")


class WireFormatError(MessagingError):
    """What arrived is not a messaging payload or content of this version."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"not a message: {reason}")
