"""Errors of the contacts feature, one base class::

    ContactsError(ChatKernelError)
    ├── NotReadyError            the profile database is closed or no identity is loaded
    ├── UnknownContactError      no contact with this user id in the list (user_id)
    ├── InvalidContactNameError  a name was refused (value, reason)
    ├── ContactListFullError     the list holds ``max_contacts`` already (limit)
    └── SafetyNumberMismatchError  the digits given are not the safety number with this contact
                                   (user_id); nothing was marked

An invite that cannot be added raises the identity feature's error that says why (malformed,
tampered, your own), unchanged: nothing is written then.
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["ContactListFullError", "ContactsError", "InvalidContactNameError", "NotReadyError", "SafetyNumberMismatchError",
           "UnknownContactError"]


class ContactsError(ChatKernelError):
    """Base of every contacts error."""


class NotReadyError(ContactsError):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"contacts are not ready: {reason} (log in first)")


class UnknownContactError(ContactsError):
    def __init__(self, user_id: object):
        self.user_id = user_id
        super().__init__(f"no contact {user_id!r} in the list (add their invite first)")


class InvalidContactNameError(ContactsError, ValueError):
    def __init__(self, value: object, reason: str):
        self.value = value
        self.reason = reason
        super().__init__(f"contact name {value!r} {reason}")


class ContactListFullError(ContactsError):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"the contact list holds {limit} contacts, the most it may: remove one first")


class SafetyNumberMismatchError(ContactsError):
    """The numbers differ: either a typo, or someone between you (the relay) swapped keys. Compare
    again in person or on a call; do not mark the contact verified."""

    def __init__(self, user_id: str):
        self.user_id = user_id
        super().__init__(f"the safety number given is not the one with {user_id}: nothing was marked; compare "
                         "all 60 digits again, in person or on a call you trust")
