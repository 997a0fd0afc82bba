"""Trust on first use: the pure state of one contact's pinned key.

The first key seen for a contact is pinned. A different key later is not silently taken: the
contact becomes ``changed``, sending to them is blocked, and a :class:`KeyChange` (the
KEY_CHANGED payload) says so, until the user dismisses the alert: the pin stays, sending is
unblocked, and that key shown again alerts again. User ids are derived from their keys, so other
keys for a known id are never this contact's: a new key means a new user id (a new contact, from
a new invite); signed key-rotation records are not implemented. ``accept`` (re-pin the pending
key) only compares fingerprints; the contact record, which holds the keys, refuses it unless they
derive the id. Deciding names the fingerprint the user was shown, so a key that changed again
meanwhile is not decided blind. Comparing safety numbers marks the pin ``verified``; a change
clears it (a dismissed contact is ``pinned`` again: compare the numbers again to verify).

No I/O and no clock: each transition returns a new frozen record, so the machine that owns it
decides when to store it and when to emit.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from chatkernel.relay.protocol import is_user_id

from .errors import AcceptError, IdentityFormatError, SendingBlockedError

__all__ = ["ContactTrust", "KeyChange", "TrustStatus"]

TrustStatus = Literal["pinned", "verified", "changed"]
_FINGERPRINT_RE = re.compile(r"[0-9a-f]{64}\Z")


def _fingerprint(value: object, what: str) -> str:
    """Fingerprints are accepted as 32 bytes or 64 lower-case hex characters and kept as hex."""
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        return bytes(value).hex()
    if isinstance(value, str) and _FINGERPRINT_RE.match(value):
        return value
    raise IdentityFormatError(f"{what} must be 32 bytes or 64 lower-case hex characters")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


@dataclass(frozen=True)
class KeyChange:
    """A contact's key differs from the pinned one: the KEY_CHANGED payload (fingerprints only)."""

    user_id: str
    old_fingerprint: str
    new_fingerprint: str

    def payload(self) -> dict[str, str]:
        return {"user_id": self.user_id, "old_fingerprint": self.old_fingerprint,
                "new_fingerprint": self.new_fingerprint}


@dataclass(frozen=True)
class ContactTrust:
    """One contact's pin: ``pinned`` / ``verified`` (sending allowed) or ``changed`` (blocked,
    ``pending`` holds the new key's fingerprint)."""

    user_id: str
    pinned: str
    status: TrustStatus = "pinned"
    pending: str | None = None

    def __post_init__(self) -> None:
        if not is_user_id(self.user_id):
            raise IdentityFormatError(f"{self.user_id!r} is not a user id")
        object.__setattr__(self, "pinned", _fingerprint(self.pinned, "pinned"))
        if self.status not in ("pinned", "verified", "changed"):
            raise IdentityFormatError(f"status {self.status!r} is not pinned, verified or changed")
        if (self.status == "changed") != (self.pending is not None):
            raise IdentityFormatError("a pending fingerprint exists exactly when the status is changed")
        if self.pending is not None:
            object.__setattr__(self, "pending", _fingerprint(self.pending, "pending"))

    @classmethod
    def first_seen(cls, user_id: str, fingerprint: bytes | str) -> ContactTrust:
        return cls(user_id, _fingerprint(fingerprint, "fingerprint"))

    @property
    def sending_allowed(self) -> bool:
        return self.status != "changed"

    def require_sending_allowed(self) -> None:
        if self.status == "changed":
            assert self.pending is not None
            raise SendingBlockedError(self.user_id, self.pinned, self.pending)

    def observe(self, fingerprint: bytes | str) -> tuple[ContactTrust, KeyChange | None]:
        """The record after seeing this key, and the change to announce (None: nothing new).

        The pinned key again: no change (a changed contact stays changed: someone did show a
        different key, and the user has not decided). The pending key again: no new event.
        Any other key: changed, pending = it, one KeyChange from the pinned key to it."""
        seen = _fingerprint(fingerprint, "fingerprint")
        if _same(seen, self.pinned) or (self.pending is not None and _same(seen, self.pending)):
            return self, None
        return (replace(self, status="changed", pending=seen), KeyChange(self.user_id, self.pinned, seen))

    def accept(self, fingerprint: bytes | str) -> ContactTrust:
        """Re-pin the pending key the user accepted (it must be the one they were shown). Only
        fingerprints are here: whether those keys derive the user id is the contact record's check."""
        seen = _fingerprint(fingerprint, "fingerprint")
        if self.pending is None:
            raise AcceptError(f"{self.user_id}'s key has not changed: nothing to accept", user_id=self.user_id)
        if not _same(seen, self.pending):
            raise AcceptError(f"{self.user_id}'s pending key is {self.pending}, not {seen}: show the user the "
                              "current one", user_id=self.user_id)
        return ContactTrust(self.user_id, self.pending)

    def dismiss(self, fingerprint: bytes | str | None = None) -> ContactTrust:
        """Keep the pinned key and drop the pending one (``fingerprint``, if given, must be it):
        sending is allowed again, and that key shown again is a new change."""
        if self.pending is None:
            raise AcceptError(f"{self.user_id}'s key has not changed: nothing to dismiss", user_id=self.user_id)
        seen = _fingerprint(fingerprint, "fingerprint") if fingerprint is not None else self.pending
        if not _same(seen, self.pending):
            raise AcceptError(f"{self.user_id}'s pending key is {self.pending}, not {seen}: show the user the "
                              "current one", user_id=self.user_id)
        return ContactTrust(self.user_id, self.pinned)

    def mark_verified(self, fingerprint: bytes | str) -> ContactTrust:
        """The user compared safety numbers for this key; only the pinned, unchanged key can be verified."""
        seen = _fingerprint(fingerprint, "fingerprint")
        if self.status == "changed":
            raise AcceptError(f"other keys were presented for {self.user_id}: dismiss the alert before verifying",
                              user_id=self.user_id)
        if not _same(seen, self.pinned):
            raise AcceptError(f"{seen} is not {self.user_id}'s pinned key", user_id=self.user_id)
        return replace(self, status="verified")

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "pinned": self.pinned, "status": self.status, "pending": self.pending}

    @classmethod
    def from_dict(cls, data: object) -> ContactTrust:
        if not isinstance(data, dict) or set(data) != {"user_id", "pinned", "status", "pending"}:
            raise IdentityFormatError("a trust record has exactly user_id, pinned, status and pending")
        return cls(data["user_id"], data["pinned"], data["status"], data["pending"])
