"""Errors of the chat feature, one base class::

    ChatError(ChatKernelError)
    ├── InvalidChatInputError   refused before anything was written (field, reason)
    ├── NotReadyError           no profile is open (log in first)
    ├── NotAContactError        the conversation is with someone not in the contact list
    ├── ContactBlockedError     the contact is blocked: unblock them to write
    ├── UnknownGroupError       no such group here (conversation)
    ├── GroupClosedError        we left the group, or were removed: it is read-only (conversation, state)
    └── UnknownMessageError     no such message in the conversation (conversation, message_id)

A message that was accepted but could not be sealed or sent is not an exception: it is kept
with status ``failed`` and its reason, and ``retry`` sends it again.
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["ChatError", "ContactBlockedError", "GroupClosedError", "InvalidChatInputError", "NotAContactError",
           "NotReadyError", "UnknownGroupError", "UnknownMessageError"]


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


class UnknownGroupError(ChatError):
    def __init__(self, conversation: str):
        self.conversation = conversation
        super().__init__(f"no group {conversation} here: you were never invited, or it is not loaded yet")


class GroupClosedError(ChatError):
    """``state`` is ``left`` or ``removed``: the history stays readable, nothing can be written."""

    def __init__(self, conversation: str, state: str, name: str):
        self.conversation = conversation
        self.state = state
        why = {"left": "you left this group", "removed": "you were removed from this group"}.get(
            state, f"you are not an active member of this group ({state})")
        super().__init__(f"{name}: {why}")


class UnknownMessageError(ChatError):
    def __init__(self, conversation: str, message_id: str):
        self.conversation = conversation
        self.message_id = message_id
        super().__init__(f"no message {message_id} in this conversation")
