"""Errors of the crypto feature, one base class, each carrying structured fields::

    CryptoError(ChatKernelError)
    ├── InvalidKeyError          a key has the wrong type or length, or is a low-order point (what, reason)
    ├── KeyAgreementError        X3DH refused before any DH (reason)
    │   ├── BadSignatureError    a signed prekey or identity binding signature does not verify (what)
    │   ├── BundleError          a key-directory bundle (GET /keys JSON) is malformed or not the peer's (field)
    │   └── IdentityRefusedError the identity feature refuses the peer's keys: changed, or sending blocked (peer, status)
    ├── NotReadyError            the profile database is closed or no identity is loaded (reason)
    ├── GroupError               a group operation was refused: unknown group, already exists (group)
    ├── SessionNotReadyError     the session cannot send yet (a responder sends after its first receive)
    ├── DecryptionError          a message was refused; the session state is unchanged (reason)
    │   ├── MessageFormatError   a header or message cannot be parsed (reason)
    │   ├── AuthenticationError  AEAD tag check failed: tampered, forged, or wrong session
    │   ├── DuplicateMessageError  already decrypted, or its skipped key was evicted (counter)
    │   ├── TooManySkippedError  the message would skip more keys than allowed (skipped, limit)
    │   ├── UnknownSenderKeyError  no sender key for this group member and chain (member, chain_id)
    │   ├── ForgedMessageError   a group message is not signed by the sender key it names (member)
    │   ├── NoSessionError       a ratchet envelope from a peer we have no session with (peer)
    │   └── ReplayedPrekeyError  a prekey envelope whose base key already started a session (peer)
    └── StateFormatError         serialized state cannot be read (reason, version)

Every refusal of a message by a session is a ``DecryptionError``; the service's receive path
raises a ``CryptoError`` (a ``DecryptionError``, or a ``KeyAgreementError`` for a session it
will not start), so a caller that only needs "drop this message" catches ``CryptoError``; the
subclasses say why, for logs and tests.
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = [
    "AuthenticationError",
    "BadSignatureError",
    "BundleError",
    "CryptoError",
    "DecryptionError",
    "DuplicateMessageError",
    "ForgedMessageError",
    "GroupError",
    "IdentityRefusedError",
    "InvalidKeyError",
    "KeyAgreementError",
    "MessageFormatError",
    "NoSessionError",
    "NotReadyError",
    "ReplayedPrekeyError",
    "SessionNotReadyError",
    "StateFormatError",
    "TooManySkippedError",
    "UnknownSenderKeyError",
]


class CryptoError(ChatKernelError):
    """Base of every crypto error."""


class InvalidKeyError(CryptoError):
    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"invalid {what}: {reason}")
        self.what = what
        self.reason = reason


class KeyAgreementError(CryptoError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"key agreement refused: {reason}")
        self.reason = reason


class BadSignatureError(KeyAgreementError):
    def __init__(self, what: str) -> None:
        super().__init__(f"the {what} signature does not verify")
        self.what = what


class SessionNotReadyError(CryptoError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"session not ready: {reason}")
        self.reason = reason


class DecryptionError(CryptoError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"message refused: {reason}")
        self.reason = reason


class MessageFormatError(DecryptionError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed: {reason}")


class AuthenticationError(DecryptionError):
    def __init__(self) -> None:
        super().__init__("authentication failed (tampered, forged, or another session)")


class DuplicateMessageError(DecryptionError):
    def __init__(self, counter: int) -> None:
        super().__init__(f"message {counter} was already received")
        self.counter = counter


class TooManySkippedError(DecryptionError):
    def __init__(self, skipped: int, limit: int) -> None:
        super().__init__(f"it would skip {skipped} message keys, more than {limit}")
        self.skipped = skipped
        self.limit = limit


class UnknownSenderKeyError(DecryptionError):
    def __init__(self, member: str, chain_id: int) -> None:
        super().__init__(f"no sender key {chain_id} for {member!r}")
        self.member = member
        self.chain_id = chain_id


class ForgedMessageError(DecryptionError):
    def __init__(self, member: str) -> None:
        super().__init__(f"the group message is not signed by {member!r}'s sender key")
        self.member = member


class StateFormatError(CryptoError):
    def __init__(self, reason: str, *, version: object = None) -> None:
        super().__init__(f"unreadable session state: {reason}")
        self.reason = reason
        self.version = version


class BundleError(KeyAgreementError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"bundle field {field!r}: {reason}")
        self.field = field


class IdentityRefusedError(KeyAgreementError):
    def __init__(self, peer: str, status: str) -> None:
        super().__init__(f"the identity of {peer!r} is {status}; accept or verify it first")
        self.peer = peer
        self.status = status


class NotReadyError(CryptoError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"crypto not ready: {reason}")
        self.reason = reason


class GroupError(CryptoError):
    def __init__(self, group: str, reason: str) -> None:
        super().__init__(f"group {group!r}: {reason}")
        self.group = group
        self.reason = reason


class NoSessionError(DecryptionError):
    def __init__(self, peer: str) -> None:
        super().__init__(f"no session with {peer!r}")
        self.peer = peer


class ReplayedPrekeyError(DecryptionError):
    def __init__(self, peer: str) -> None:
        super().__init__(f"a prekey envelope from {peer!r} whose base key already started a session")
        self.peer = peer
