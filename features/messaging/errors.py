"""Errors of the messaging feature, one base class::

    MessagingError(ChatKernelError)
    ├── InvalidMessageError   a send was refused before anything was written (field, reason)
    ├── NotReadyError         the profile database is closed or no identity is loaded
    └── WireFormatError       a payload from the relay, or a decrypted content, is not ours (reason)

A send that cannot start a session (no bundle on the relay, the relay unreachable, the peer's
key refused) raises the signaling or crypto error that says why; nothing is written then.
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["InvalidMessageError", "MessagingError", "NotReadyError", "WireFormatError"]


class MessagingError(ChatKernelError):
    """Base of every messaging error."""


class InvalidMessageError(MessagingError):
    """A send was refused before anything was sealed or stored."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"cannot send: {field} {reason}")


class NotReadyError(MessagingError):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"messaging is not ready: {reason} (log in first)")


class WireFormatError(MessagingError):
    """What arrived is not a messaging payload or content of this version."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"not a message: {reason}")
