"""Errors of the chat feature, one base class::

    ChatError(ChatKernelError)
    ├── InvalidChatInputError   refused before anything was written (field, reason)
    ├── NotReadyError           no profile is open (log in first)
    ├── NotAContactError        the conversation is with someone not in the contact list
    ├── ContactBlockedError     the contact is blocked: unblock them to write
    └── UnknownMessageError     no such message in the conversation (conversation, message_id)

A message that was accepted but could not be sealed or sent is not an exception: it is kept
with status ``failed`` and its reason, and ``retry`` sends it again.
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["ChatError", "ContactBlockedError", "InvalidChatInputError", "NotAContactError", "NotReadyError",
           "UnknownMessageError"]


class ChatError(ChatKernelError):
    """Base of every chat error."""


class InvalidChatInputError(ChatError):
    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field} {reason}")


class NotReadyError(ChatError):
    def __init__(self) -> None:
        super().__init__("the chat is not ready: log in first")


class NotAContactError(ChatError):
    def __init__(self, conversation: str):
        self.conversation = conversation
        super().__init__(f"{conversation} is not in your contacts: add them from their invite first")


class ContactBlockedError(ChatError):
    def __init__(self, conversation: str, name: str):
        self.conversation = conversation
        super().__init__(f"{name} is blocked: unblock them to write")


class UnknownMessageError(ChatError):
    def __init__(self, conversation: str, message_id: str):
        self.conversation = conversation
        self.message_id = message_id
        super().__init__(f"no message {message_id} in this conversation")
