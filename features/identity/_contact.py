"""A pinned contact as it is kept in memory and in the ``identity_contacts`` table (pure, no I/O).

A contact comes from an invite, which carries the user id, both public keys and a relay URL but
no display name and no binding signature, so the stored public record is exactly the invite's
content (or from a key bundle seen first, through ``observe_key``: then without a relay URL).
``keys`` are the pinned keys (those safety numbers are computed from); ``pending`` the other keys
last presented for this user id, kept (not only their fingerprint) so that ``accepted`` checks
what they derive instead of assuming it. Reading a row checks that the keys match the trust
record's fingerprints, so a damaged or edited row is refused instead of trusted.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, replace
from typing import Any

from chatkernel.relay.protocol import b64url_decode, b64url_encode, derive_user_id

from ._record import identity_fingerprint
from ._trust import ContactTrust
from .errors import ForgedKeyError, IdentityFormatError

__all__ = ["Contact", "Keys"]

_FORMAT = 1
Keys = tuple[bytes, bytes]  # (Ed25519 public, X25519 public), 32 raw bytes each


def _keys_json(keys: Keys) -> dict[str, str]:
    return {"signing": b64url_encode(keys[0]), "exchange": b64url_encode(keys[1])}


def _keys_from(data: object, what: str) -> Keys:
    if not isinstance(data, dict):
        raise IdentityFormatError(f"{what}: expected a JSON object")
    try:
        signing, exchange = b64url_decode(data["signing"]), b64url_decode(data["exchange"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IdentityFormatError(f"{what}: {exc}") from None
    return signing, exchange


def _matches(keys: Keys, fingerprint: str) -> bool:
    return hmac.compare_digest(identity_fingerprint(*keys).hex().encode(), fingerprint.encode())


@dataclass(frozen=True)
class Contact:
    user_id: str
    keys: Keys
    relay_url: str | None  # None: first seen in a key bundle, not an invite
    trust: ContactTrust
    added_at: str
    display_name: str | None = None
    pending: Keys | None = None

    @property
    def fingerprint(self) -> str:
        """Of the pinned keys, lower-case hex."""
        return self.trust.pinned

    @property
    def identity_key(self) -> bytes:
        """The 64 bytes safety numbers hash: Ed25519 public key, then X25519 public key."""
        return self.keys[0] + self.keys[1]

    def public_record(self) -> dict[str, Any]:
        """What the invite said, as stored: ``{"v", "userId", "signing", "exchange", "relayUrl"}``."""
        return {"v": _FORMAT, "userId": self.user_id, **_keys_json(self.keys), "relayUrl": self.relay_url}

    def to_dict(self) -> dict[str, Any]:
        """The plain record dependents get: the public record plus name, fingerprint, status, addedAt."""
        return {**self.public_record(), "name": self.display_name, "fingerprint": self.fingerprint,
                "status": self.trust.status, "addedAt": self.added_at}

    def observed(self, keys: Keys) -> tuple[Contact, dict[str, str] | None]:
        """After seeing ``keys``: the new record and the KEY_CHANGED payload, if the key is new."""
        trust, change = self.trust.observe(identity_fingerprint(*keys))
        if change is None:
            return self, None
        return replace(self, trust=trust, pending=keys), change.payload()

    def accepted(self, fingerprint: str | None = None) -> Contact:
        """The pending keys pinned; ``fingerprint`` (the one the user was shown) defaults to the pending one.

        Refused (:class:`ForgedKeyError`) unless the pending keys derive this user id: keys that
        derive another id cannot be this contact's, whatever the user is told to click."""
        seen = fingerprint if fingerprint is not None else (self.trust.pending or self.trust.pinned)
        trust = self.trust.accept(seen)
        assert self.pending is not None
        derived = derive_user_id(*self.pending)
        if derived != self.user_id:
            raise ForgedKeyError(self.user_id, identity_fingerprint(*self.pending).hex(), derived)
        return replace(self, keys=self.pending, trust=trust, pending=None)

    def dismissed(self, fingerprint: str | None = None) -> Contact:
        """The pinned keys kept and the pending ones dropped (``fingerprint``, if given, must be theirs)."""
        return replace(self, trust=self.trust.dismiss(fingerprint), pending=None)

    def verified(self, fingerprint: str | None = None) -> Contact:
        seen = fingerprint if fingerprint is not None else self.fingerprint
        return replace(self, trust=self.trust.mark_verified(seen))

    def to_row(self) -> tuple[str, str, str, str | None, str | None, str]:
        """(user_id, public_record, trust, pending_keys, display_name, added_at), in the table's order."""
        pending = json.dumps(_keys_json(self.pending), sort_keys=True) if self.pending is not None else None
        return (self.user_id, json.dumps(self.public_record(), sort_keys=True),
                json.dumps(self.trust.to_dict(), sort_keys=True), pending, self.display_name, self.added_at)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Contact:
        user_id, public_text, trust_text, pending_text, display_name, added_at = row
        try:
            public, trust_data = json.loads(public_text), json.loads(trust_text)
            pending_data = json.loads(pending_text) if pending_text is not None else None
        except (TypeError, ValueError) as exc:
            raise IdentityFormatError(f"contact {user_id!r}: {exc}") from None
        if not isinstance(public, dict) or public.get("v") != _FORMAT or public.get("userId") != user_id:
            raise IdentityFormatError(f"contact {user_id!r}: the public record is not format {_FORMAT} for this id")
        trust = ContactTrust.from_dict(trust_data)
        keys = _keys_from(public, f"contact {user_id!r}")
        pending = _keys_from(pending_data, f"contact {user_id!r} pending keys") if pending_data is not None else None
        if trust.user_id != user_id or not _matches(keys, trust.pinned):
            raise IdentityFormatError(f"contact {user_id!r}: the stored keys are not the pinned ones")
        if (pending is None) != (trust.pending is None) or (pending is not None and trust.pending is not None
                                                            and not _matches(pending, trust.pending)):
            raise IdentityFormatError(f"contact {user_id!r}: the pending keys do not match the trust record")
        relay_url = public.get("relayUrl")
        if relay_url is not None and not isinstance(relay_url, str):
            raise IdentityFormatError(f"contact {user_id!r}: relayUrl must be a string or null")
        return cls(user_id, keys, relay_url, trust, str(added_at), display_name, pending)

    def __repr__(self) -> str:
        return (f"Contact(user_id={self.user_id!r}, display_name={self.display_name!r}, "
                f"status={self.trust.status!r}, fingerprint={self.fingerprint[:16]!r})")
