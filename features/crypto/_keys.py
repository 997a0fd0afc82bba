"""Key objects: an identity (Ed25519 that signs an X25519 key), prekeys, and the public bundle.

``cryptography`` has no XEdDSA, so an identity is two keys: the Ed25519 key is *who you are*
(fingerprints, signatures) and the X25519 key does the DH; a domain-separated Ed25519
signature over both public keys binds one to the other, and every signed prekey is signed too,
its id included so a relay cannot swap ids. Both signed formats are the wire protocol's
(:mod:`chatkernel.relay.protocol`), shared with the relay and the identity feature, so a bundle
the relay accepted and an identity the identity feature made verify here unchanged. ``repr()`` of anything holding a private key shows only
public material; these objects never print a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from chatkernel.relay import protocol as _protocol

from .errors import BadSignatureError, InvalidKeyError

__all__ = [
    "IDENTITY_BINDING_CONTEXT",
    "IdentityKeyPair",
    "OneTimePreKey",
    "PreKeyBundle",
    "PublicIdentity",
    "SIGNED_PREKEY_CONTEXT",
    "SignedPreKey",
    "dh",
    "identity_binding_message",
    "public_x25519",
    "short_hex",
    "signed_prekey_message",
    "x25519_private",
]

# Aliases of the protocol's tags (one format each, defined once, in chatkernel.relay.protocol).
IDENTITY_BINDING_CONTEXT = _protocol.IDENTITY_BINDING_TAG
SIGNED_PREKEY_CONTEXT = _protocol.SIGNED_PREKEY_TAG


def short_hex(public: bytes) -> str:
    """Eight hex digits of a *public* key, enough to tell keys apart in a repr."""
    return public[:4].hex()


def public_x25519(key: X25519PublicKey | X25519PrivateKey | bytes, what: str = "X25519 public key") -> bytes:
    """The 32 raw bytes of an X25519 public key, from an object or bytes."""
    if isinstance(key, X25519PrivateKey):
        key = key.public_key()
    if isinstance(key, X25519PublicKey):
        return key.public_bytes_raw()
    if isinstance(key, (bytes, bytearray)) and len(key) == 32:
        return bytes(key)
    raise InvalidKeyError(what, "expected an X25519 key or 32 bytes")


def x25519_private(key: X25519PrivateKey | bytes, what: str = "X25519 private key") -> X25519PrivateKey:
    if isinstance(key, X25519PrivateKey):
        return key
    if isinstance(key, (bytes, bytearray)) and len(key) == 32:
        return X25519PrivateKey.from_private_bytes(bytes(key))
    raise InvalidKeyError(what, "expected an X25519 private key or 32 bytes")


def _ed25519_private(key: Ed25519PrivateKey | bytes) -> Ed25519PrivateKey:
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, (bytes, bytearray)) and len(key) == 32:
        return Ed25519PrivateKey.from_private_bytes(bytes(key))
    raise InvalidKeyError("Ed25519 private key", "expected an Ed25519 private key or 32 bytes")


def dh(private: X25519PrivateKey, public: bytes, what: str) -> bytes:
    """X25519, refusing a low-order peer key (``cryptography`` raises on an all-zero result)."""
    try:
        return private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError as exc:
        raise InvalidKeyError(what, "low-order or invalid point") from exc


def _verify(signing_key: bytes, signature: bytes, message: bytes, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(signing_key).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignatureError(what) from exc


@dataclass(frozen=True)
class PublicIdentity:
    """What a peer knows of an identity: both public keys and the binding signature."""

    signing_key: bytes
    dh_key: bytes
    dh_signature: bytes

    ENCODED_LEN = 128

    def verify(self) -> None:
        """Raise ``BadSignatureError`` unless the Ed25519 key signed this X25519 key (the
        protocol's identity binding: tag ‖ Ed25519 ‖ X25519)."""
        if len(self.signing_key) != 32 or len(self.dh_key) != 32 or len(self.dh_signature) != 64:
            raise InvalidKeyError("public identity", "wrong key or signature length")
        _verify(self.signing_key, self.dh_signature, identity_binding_message(self.signing_key, self.dh_key),
                "identity binding")

    @property
    def keys(self) -> bytes:
        """The 64 bytes that name this identity in associated data: Ed25519 ‖ X25519."""
        return self.signing_key + self.dh_key

    def encode(self) -> bytes:
        return self.signing_key + self.dh_key + self.dh_signature

    @classmethod
    def decode(cls, data: bytes) -> PublicIdentity:
        if len(data) != cls.ENCODED_LEN:
            raise InvalidKeyError("public identity", f"expected {cls.ENCODED_LEN} bytes, got {len(data)}")
        return cls(bytes(data[:32]), bytes(data[32:64]), bytes(data[64:]))

    def __repr__(self) -> str:
        return f"PublicIdentity(signing={short_hex(self.signing_key)}…, dh={short_hex(self.dh_key)}…)"


@dataclass(frozen=True, repr=False, eq=False)
class IdentityKeyPair:
    """A local identity; the identity feature owns and stores it, this module only uses it."""

    signing: Ed25519PrivateKey
    dh: X25519PrivateKey
    public: PublicIdentity = field(init=False)

    def __post_init__(self) -> None:
        signing = _ed25519_private(self.signing)
        dh_key = x25519_private(self.dh)
        object.__setattr__(self, "signing", signing)
        object.__setattr__(self, "dh", dh_key)
        signing_pub = signing.public_key().public_bytes_raw()
        dh_pub = dh_key.public_key().public_bytes_raw()
        signature = signing.sign(identity_binding_message(signing_pub, dh_pub))
        object.__setattr__(self, "public", PublicIdentity(signing_pub, dh_pub, signature))

    @classmethod
    def generate(cls) -> IdentityKeyPair:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self.signing.sign(message)

    def __repr__(self) -> str:
        return f"IdentityKeyPair({self.public!r}, private=<redacted>)"


@dataclass(frozen=True, repr=False, eq=False)
class SignedPreKey:
    """A medium-term X25519 key the identity signed (with its id); rotated by the identity feature."""

    key_id: int
    private: X25519PrivateKey
    signature: bytes

    @classmethod
    def generate(cls, identity: IdentityKeyPair, key_id: int) -> SignedPreKey:
        private = X25519PrivateKey.generate()
        public = private.public_key().public_bytes_raw()
        return cls(key_id, private, identity.sign(signed_prekey_message(key_id, public)))

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return f"SignedPreKey(id={self.key_id}, public={short_hex(self.public)}…, private=<redacted>)"


@dataclass(frozen=True, repr=False, eq=False)
class OneTimePreKey:
    """A single-use X25519 key; the holder deletes it once a session used it."""

    key_id: int
    private: X25519PrivateKey

    @classmethod
    def generate(cls, key_id: int) -> OneTimePreKey:
        return cls(key_id, X25519PrivateKey.generate())

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return f"OneTimePreKey(id={self.key_id}, public={short_hex(self.public)}…, private=<redacted>)"


def signed_prekey_message(key_id: int, public: bytes) -> bytes:
    """The bytes a signed prekey's signature covers, exactly what the relay checks at upload:
    :func:`chatkernel.relay.protocol.signed_prekey_message` (tag ‖ uint32_be(id) ‖ key)."""
    try:
        return _protocol.signed_prekey_message(key_id, public)
    except ValueError as exc:
        raise InvalidKeyError("signed prekey", str(exc)) from None


def identity_binding_message(signing_key: bytes, dh_key: bytes) -> bytes:
    """The bytes the identity binding signature covers, the identity feature's too:
    :func:`chatkernel.relay.protocol.identity_binding_message` (tag ‖ Ed25519 ‖ X25519)."""
    try:
        return _protocol.identity_binding_message(signing_key, dh_key)
    except ValueError as exc:
        raise InvalidKeyError("public identity", str(exc)) from None


@dataclass(frozen=True)
class PreKeyBundle:
    """What the key directory hands an initiator; public only, so its repr is safe."""

    identity: PublicIdentity
    signed_prekey_id: int
    signed_prekey: bytes
    signed_prekey_signature: bytes
    one_time_prekey_id: int | None = None
    one_time_prekey: bytes | None = None

    def __post_init__(self) -> None:
        """Public keys may be given as ``cryptography`` objects; they are kept as raw bytes."""
        if not isinstance(self.signed_prekey, (bytes, bytearray)):
            object.__setattr__(self, "signed_prekey", public_x25519(self.signed_prekey, "signed prekey"))
        if self.one_time_prekey is not None and not isinstance(self.one_time_prekey, (bytes, bytearray)):
            object.__setattr__(self, "one_time_prekey", public_x25519(self.one_time_prekey, "one-time prekey"))

    @classmethod
    def of(cls, identity: IdentityKeyPair, signed_prekey: SignedPreKey,
           one_time_prekey: OneTimePreKey | None = None) -> PreKeyBundle:
        return cls(identity.public, signed_prekey.key_id, signed_prekey.public, signed_prekey.signature,
                   None if one_time_prekey is None else one_time_prekey.key_id,
                   None if one_time_prekey is None else one_time_prekey.public)

    def verify(self) -> None:
        """Both signatures, before any DH: the identity binding and the signed prekey's."""
        self.identity.verify()
        if len(self.signed_prekey) != 32 or len(self.signed_prekey_signature) != 64:
            raise InvalidKeyError("signed prekey", "wrong key or signature length")
        _verify(self.identity.signing_key, self.signed_prekey_signature,
                signed_prekey_message(self.signed_prekey_id, self.signed_prekey), "signed prekey")
        if (self.one_time_prekey_id is None) != (self.one_time_prekey is None):
            raise InvalidKeyError("one-time prekey", "an id without a key, or a key without an id")
        if self.one_time_prekey is not None and len(self.one_time_prekey) != 32:
            raise InvalidKeyError("one-time prekey", "expected 32 bytes")
