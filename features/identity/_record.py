"""The identity record: who a user is, as keys.

An identity is an Ed25519 signing key and an X25519 key-agreement key; the signing key signs the
X25519 key (``cryptography`` has no XEdDSA, so one key cannot do both), and anyone holding the
public part can check that signature. The signed bytes are the wire protocol's identity binding
(:func:`chatkernel.relay.protocol.identity_binding_message`), the one format the crypto feature
checks before X3DH too. The user id is :func:`chatkernel.relay.protocol.derive_user_id`
of the two public keys, so nobody can claim an id without its keys.

:class:`IdentityPublic` is the shareable part (keys, signature, display name). :class:`Identity`
holds the private keys and never shows them: not in ``repr``, not in ``str``, not through pickle.
:meth:`Identity.private_bytes` is the one way out, for the persistence layer to encrypt at rest.
The display name is a label, not authenticated by the signature.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from chatkernel import LabelError, normalize_label
from chatkernel.relay import protocol as _protocol
from chatkernel.relay.protocol import b64url_decode, b64url_encode, derive_user_id

from .errors import DisplayNameError, IdentityFormatError, KeyFormatError, KeySignatureError

__all__ = ["EXCHANGE_KEY_TAG", "FINGERPRINT_TAG", "Identity", "IdentityPublic", "MAX_DISPLAY_NAME",
           "exchange_key_message", "fingerprint_hex", "identity_fingerprint", "validate_display_name",
           "verify_exchange_key"]

EXCHANGE_KEY_TAG = _protocol.IDENTITY_BINDING_TAG  # b"chatkernel/identity/exchange-key/v1\x00"
FINGERPRINT_TAG = b"chatkernel/identity/fingerprint/v1\x00"
MAX_DISPLAY_NAME = 64  # code points, after NFC
_PRIVATE_FORMAT = 1
_PUBLIC_FORMAT = 1


def validate_display_name(name: object) -> str:
    """The name NFC-normalized and trimmed, or :class:`DisplayNameError`: the kernel's one rule
    for labels (:func:`chatkernel.normalize_label`), which refuses names that could pass for
    another or break the layout they are shown in."""
    try:
        return normalize_label(name, max_chars=MAX_DISPLAY_NAME)
    except LabelError as exc:
        raise DisplayNameError(name, exc.reason) from None


def identity_fingerprint(signing_key: bytes, exchange_key: bytes) -> bytes:
    """SHA-256 of both public keys (tagged): what invites, pins and KEY_CHANGED events compare."""
    _check_raw(signing_key, "signing key")
    _check_raw(exchange_key, "exchange key")
    return hashlib.sha256(FINGERPRINT_TAG + bytes(signing_key) + bytes(exchange_key)).digest()


def fingerprint_hex(signing_key: bytes, exchange_key: bytes) -> str:
    return identity_fingerprint(signing_key, exchange_key).hex()


def exchange_key_message(signing_key: bytes, exchange_key: bytes) -> bytes:
    """The exact bytes the binding signature covers: tag, Ed25519 public key, X25519 public key
    (:func:`chatkernel.relay.protocol.identity_binding_message`)."""
    _check_raw(signing_key, "signing key")
    _check_raw(exchange_key, "exchange key")
    return _protocol.identity_binding_message(bytes(signing_key), bytes(exchange_key))


def verify_exchange_key(signing_key: bytes, exchange_key: bytes, signature: bytes) -> None:
    """Raise :class:`KeySignatureError` unless ``signature`` is the signing key's over the exchange key."""
    _check_raw(signing_key, "signing key")
    _check_raw(exchange_key, "exchange key")
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != 64:
        raise KeyFormatError("signature", "must be 64 bytes")
    if not _protocol.verify_identity_binding(bytes(signing_key), bytes(exchange_key), bytes(signature)):
        raise KeySignatureError(derive_user_id(bytes(signing_key), bytes(exchange_key)))


def _check_raw(key: object, what: str) -> None:
    if not isinstance(key, (bytes, bytearray)):
        raise KeyFormatError(what, f"must be bytes, not {type(key).__name__}")
    if len(key) != 32:
        raise KeyFormatError(what, f"must be a raw 32-byte key, got {len(key)} bytes")


@dataclass(frozen=True, repr=False)
class IdentityPublic:
    """The shareable part of an identity, valid by construction (keys, signature, name checked)."""

    signing_key: bytes
    exchange_key: bytes
    signature: bytes
    display_name: str
    user_id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        verify_exchange_key(self.signing_key, self.exchange_key, self.signature)
        set_ = object.__setattr__
        for name in ("signing_key", "exchange_key", "signature"):
            set_(self, name, bytes(getattr(self, name)))
        set_(self, "display_name", validate_display_name(self.display_name))
        set_(self, "user_id", derive_user_id(self.signing_key, self.exchange_key))

    @property
    def fingerprint(self) -> bytes:
        return identity_fingerprint(self.signing_key, self.exchange_key)

    @property
    def identity_key(self) -> bytes:
        """The 64 bytes safety numbers hash: Ed25519 public key, then X25519 public key."""
        return self.signing_key + self.exchange_key

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"v": 1, "userId", "name", "signing", "exchange", "sig"}`` (base64url)."""
        return {"v": _PUBLIC_FORMAT, "userId": self.user_id, "name": self.display_name,
                "signing": b64url_encode(self.signing_key), "exchange": b64url_encode(self.exchange_key),
                "sig": b64url_encode(self.signature)}

    @classmethod
    def from_dict(cls, data: object) -> IdentityPublic:
        """Read :meth:`to_dict`'s form, checking every field (the user id must be the keys' own)."""
        if not isinstance(data, dict):
            raise IdentityFormatError(f"expected a JSON object, got {type(data).__name__}")
        expected = {"v", "userId", "name", "signing", "exchange", "sig"}
        if set(data) != expected:
            raise IdentityFormatError(f"fields must be exactly {sorted(expected)}, got {sorted(map(str, data))}")
        if data["v"] != _PUBLIC_FORMAT or type(data["v"]) is not int:
            raise IdentityFormatError(f"format version {data['v']!r} is not {_PUBLIC_FORMAT}")
        raw = {}
        for name in ("signing", "exchange", "sig"):
            try:
                raw[name] = b64url_decode(data[name])
            except ValueError as exc:
                raise IdentityFormatError(f"{name}: {exc}") from None
        public = cls(raw["signing"], raw["exchange"], raw["sig"], data["name"])
        if data["userId"] != public.user_id:
            raise IdentityFormatError(f"userId {data['userId']!r} is not the one its keys derive ({public.user_id!r})")
        return public

    def __repr__(self) -> str:
        return (f"IdentityPublic(user_id={self.user_id!r}, display_name={self.display_name!r}, "
                f"fingerprint={self.fingerprint.hex()[:16]!r})")


class Identity:
    """The local user's identity with its private keys, which it never shows."""

    __slots__ = ("_exchange", "_public", "_signing")

    def __init__(self, signing: Ed25519PrivateKey, exchange: X25519PrivateKey, display_name: str) -> None:
        if not isinstance(signing, Ed25519PrivateKey) or not isinstance(exchange, X25519PrivateKey):
            raise KeyFormatError("private keys", "expected an Ed25519PrivateKey and an X25519PrivateKey")
        signing_pub = signing.public_key().public_bytes_raw()
        exchange_pub = exchange.public_key().public_bytes_raw()
        signature = signing.sign(exchange_key_message(signing_pub, exchange_pub))
        self._signing = signing
        self._exchange = exchange
        self._public = IdentityPublic(signing_pub, exchange_pub, signature, display_name)

    @classmethod
    def generate(cls, display_name: str) -> Identity:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate(), display_name)

    @property
    def public(self) -> IdentityPublic:
        return self._public

    @property
    def user_id(self) -> str:
        return self._public.user_id

    @property
    def display_name(self) -> str:
        return self._public.display_name

    def with_display_name(self, display_name: str) -> Identity:
        return Identity(self._signing, self._exchange, display_name)

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature by the identity's signing key (e.g. the relay's /connect proof)."""
        return self._signing.sign(bytes(message))

    def exchange(self, peer_exchange_key: bytes | X25519PublicKey) -> bytes:
        """X25519 with a peer's public key; ``cryptography`` refuses an all-zero (low-order) result."""
        if isinstance(peer_exchange_key, (bytes, bytearray)):
            _check_raw(peer_exchange_key, "peer exchange key")
            peer_exchange_key = X25519PublicKey.from_public_bytes(bytes(peer_exchange_key))
        return self._exchange.exchange(peer_exchange_key)

    def private_bytes(self) -> bytes:
        """``0x01 || Ed25519 seed (32) || X25519 private (32) || display name (UTF-8)``: secret;
        only for the persistence layer, which stores it encrypted."""
        return (bytes([_PRIVATE_FORMAT]) + self._signing.private_bytes_raw() + self._exchange.private_bytes_raw()
                + self.display_name.encode("utf-8"))

    @classmethod
    def from_private_bytes(cls, data: bytes) -> Identity:
        if not isinstance(data, (bytes, bytearray)):
            raise IdentityFormatError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < 66:
            raise IdentityFormatError(f"{len(data)} bytes is too short for a private identity (at least 66)")
        if data[0] != _PRIVATE_FORMAT:
            raise IdentityFormatError(f"private format {data[0]} is not {_PRIVATE_FORMAT}")
        try:
            name = data[65:].decode("utf-8")
        except UnicodeDecodeError:
            raise IdentityFormatError("the display name is not UTF-8") from None
        return cls(Ed25519PrivateKey.from_private_bytes(data[1:33]), X25519PrivateKey.from_private_bytes(data[33:65]),
                   name)

    def __repr__(self) -> str:
        return f"Identity(user_id={self.user_id!r}, display_name={self.display_name!r}, private keys hidden)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("an Identity holds private keys and is not picklable; use private_bytes() and encrypt it")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and self._public == other._public

    def __hash__(self) -> int:
        return hash(self._public)
