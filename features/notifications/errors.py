"""Errors of the notifications feature, one base class::

    NotificationsError(ChatKernelError)
    ├── NotReadyError              the profile database is closed or no identity is loaded (reason)
    ├── InvalidArgumentError       an argument was refused (name, value, reason)
    │   ├── InvalidIdError         a conversation or toast id: a string of 1 to 200 characters,
    │   │                          no control character (field, value, reason)
    │   └── InvalidSettingError    a setting: unknown, or of the wrong type or range (key, value, reason)
    └── UnknownToastError          no toast with this id on the stack: dismissed or expired (toast_id)

A message's body is never part of an error (nor of a log line or an event).
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["InvalidArgumentError", "InvalidIdError", "InvalidSettingError", "NotReadyError", "NotificationsError",
           "UnknownToastError"]


def _shown(value: object) -> str:
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:40]) + f"... ({len(value)} characters)"
    return repr(value)


class NotificationsError(ChatKernelError):
    """Base of every notifications error."""


class NotReadyError(NotificationsError):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"notifications are not ready: {reason} (log in first)")


class InvalidArgumentError(NotificationsError, ValueError):
    def __init__(self, name: str, value: object, reason: str):
        self.name = name
        self.value = value
        self.reason = reason
        super().__init__(f"{name} {_shown(value)} {reason}")


class InvalidIdError(InvalidArgumentError):
    def __init__(self, field: str, value: object, reason: str):
        self.field = field
        super().__init__(field, value, reason)


class InvalidSettingError(InvalidArgumentError):
    def __init__(self, key: str, value: object, reason: str):
        self.key = key
        super().__init__(f"notifications setting {key!r} =", value, reason)


class UnknownToastError(NotificationsError):
    def __init__(self, toast_id: str):
        self.toast_id = toast_id
        self.reason = f"no toast {toast_id!r} on the stack (dismissed or expired)"
        super().__init__(self.reason)
