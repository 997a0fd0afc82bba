"""Errors of the identity feature, each carrying the fields a caller needs to act on it::

    IdentityError(ChatKernelError)
    ├── KeyFormatError            a public or private key of the wrong type or size (what, reason)
    ├── KeySignatureError         the X25519 key's signature fails under the Ed25519 key (user_id)
    ├── IdentityFormatError       a serialized identity (public or private part) that cannot be read (reason)
    ├── DisplayNameError          empty, too long, or with control characters (name, reason)
    ├── InviteError               an invite string that cannot be used (reason)
    │   ├── InviteFormatError         not chatkernel:invite:<version>:<payload>:<checksum>, or a bad layout
    │   ├── InviteVersionError        a version this code does not read (version)
    │   ├── InviteEncodingError       a segment that is not canonical base64url (segment)
    │   ├── InviteTruncatedError      cut short: a segment or the prefix is missing or too short
    │   ├── InviteChecksumError       the checksum does not match: altered or mistyped
    │   ├── InviteUserIdError         the user id is not the one its keys derive (user_id, derived)
    │   └── InviteRelayURLError       check_relay_url refuses the relay URL (url, insecure)
    ├── BundleMismatchError       a fetched key bundle whose keys are not the invite's (user_id, expected, got)
    ├── IdentityExistsError       create() on a profile that already has an identity: never overwritten (user_id)
    ├── NoIdentityError           an operation that needs the loaded identity, with none loaded (operation)
    ├── ContactError              about one contact (user_id)
    │   ├── UnknownContactError       no contact with that user id is pinned
    │   ├── SelfContactError          the invite (or key) is this identity's own
    │   └── UserIdMismatchError       first-seen keys that do not derive the user id they came for (derived)
    └── TrustError                a trust-on-first-use rule (user_id)
        ├── SendingBlockedError       other keys presented for the contact, alert not dismissed (pinned, pending)
        └── AcceptError               accept or dismiss with nothing pending, or a fingerprint other than the pending one
            └── ForgedKeyError            accept() of keys not deriving the contact's user id (fingerprint, derived)

Fingerprints in errors are lower-case hex of public-key hashes: nothing secret, safe to log.
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = [
    "AcceptError",
    "BundleMismatchError",
    "ContactError",
    "DisplayNameError",
    "ForgedKeyError",
    "IdentityError",
    "IdentityExistsError",
    "IdentityFormatError",
    "InviteChecksumError",
    "InviteEncodingError",
    "InviteError",
    "InviteFormatError",
    "InviteRelayURLError",
    "InviteTruncatedError",
    "InviteUserIdError",
    "InviteVersionError",
    "KeyFormatError",
    "KeySignatureError",
    "NoIdentityError",
    "SelfContactError",
    "SendingBlockedError",
    "TrustError",
    "UnknownContactError",
    "UserIdMismatchError",
]


class IdentityError(ChatKernelError):
    """Base of every identity error."""


class KeyFormatError(IdentityError):
    def __init__(self, what: str, reason: str):
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


class KeySignatureError(IdentityError):
    def __init__(self, user_id: str | None):
        super().__init__(f"the exchange key's signature does not verify under the signing key (user {user_id})")
        self.user_id = user_id


class IdentityFormatError(IdentityError):
    def __init__(self, reason: str):
        super().__init__(f"unreadable identity: {reason}")
        self.reason = reason


class DisplayNameError(IdentityError):
    def __init__(self, name: object, reason: str):
        super().__init__(f"invalid display name {name!r}: {reason}")
        self.name = name
        self.reason = reason


class InviteError(IdentityError):
    """Base of every refusal of an invite string; ``reason`` says what is wrong in words."""

    def __init__(self, reason: str):
        super().__init__(f"invalid invite: {reason}")
        self.reason = reason


class InviteFormatError(InviteError):
    pass


class InviteVersionError(InviteError):
    def __init__(self, version: str, supported: tuple[str, ...]):
        super().__init__(f"version {version!r} is not supported (this code reads {', '.join(supported)})")
        self.version = version
        self.supported = supported


class InviteEncodingError(InviteError):
    def __init__(self, segment: str, reason: str):
        super().__init__(f"the {segment} segment is not base64url: {reason}")
        self.segment = segment


class InviteTruncatedError(InviteError):
    pass


class InviteChecksumError(InviteError):
    def __init__(self) -> None:
        super().__init__("the checksum does not match: the invite was altered or mistyped")


class InviteUserIdError(InviteError):
    def __init__(self, user_id: str, derived: str):
        super().__init__(f"user id {user_id!r} is not the one its keys derive ({derived!r})")
        self.user_id = user_id
        self.derived = derived


class InviteRelayURLError(InviteError):
    def __init__(self, url: object, reason: str, *, insecure: bool = False):
        super().__init__(f"relay URL {url!r}: {reason}")
        self.url = url
        self.insecure = insecure


class BundleMismatchError(IdentityError):
    def __init__(self, user_id: str, expected: str, got: str):
        super().__init__(f"the relay's keys for {user_id} (fingerprint {got}) are not the invite's ({expected}): "
                         "refusing them; the relay or the network may be swapping keys")
        self.user_id = user_id
        self.expected = expected
        self.got = got


class IdentityExistsError(IdentityError):
    def __init__(self, user_id: str | None = None):
        who = f" ({user_id})" if user_id else ""
        super().__init__(f"this profile already has an identity{who}; it is never overwritten (load it instead)")
        self.user_id = user_id


class NoIdentityError(IdentityError):
    def __init__(self, operation: str):
        super().__init__(f"cannot {operation}: no identity is loaded (create or load one with the profile open)")
        self.operation = operation


class ContactError(IdentityError):
    def __init__(self, message: str, *, user_id: str):
        super().__init__(message)
        self.user_id = user_id


class UnknownContactError(ContactError):
    def __init__(self, user_id: str):
        super().__init__(f"{user_id!r} is not a contact: add their invite first", user_id=user_id)


class SelfContactError(ContactError):
    def __init__(self, user_id: str):
        super().__init__(f"the invite is this identity's own ({user_id}); a contact is someone else", user_id=user_id)


class UserIdMismatchError(ContactError):
    def __init__(self, user_id: str, derived: str):
        super().__init__(f"keys offered for {user_id!r} derive {derived!r}: refusing to pin them", user_id=user_id)
        self.derived = derived


class TrustError(IdentityError):
    def __init__(self, message: str, *, user_id: str):
        super().__init__(message)
        self.user_id = user_id


class SendingBlockedError(TrustError):
    def __init__(self, user_id: str, pinned: str, pending: str):
        super().__init__(f"other keys ({pending}) were presented for {user_id} (pinned {pinned}); sending is "
                         "blocked until the alert is dismissed", user_id=user_id)
        self.pinned = pinned
        self.pending = pending


class AcceptError(TrustError):
    pass


class ForgedKeyError(AcceptError):
    """Keys presented for a known contact that do not derive their user id: never pinned.

    A user id is derived from its keys (``derive_user_id``), so keys that derive another id
    cannot be this contact's: something else (a forger, a relay substituting keys) presented
    them. ``fingerprint`` is theirs, ``derived`` the id they do derive."""

    def __init__(self, user_id: str, fingerprint: str, derived: str):
        super().__init__(f"the keys presented for {user_id} (fingerprint {fingerprint}) do not derive that user id "
                         f"(they derive {derived}), so they cannot be this contact's keys: refusing to pin them "
                         "(dismiss the alert to keep the pinned key). A contact who made new keys has a new user "
                         "id: add their new invite", user_id=user_id)
        self.fingerprint = fingerprint
        self.derived = derived
