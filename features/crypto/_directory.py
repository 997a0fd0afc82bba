"""The key directory's JSON (``POST /keys`` bodies, ``GET /keys/{userId}`` bundles) and X3DH
from a fetched bundle.

The directory serves a peer's two identity keys, its signed prekey and at most one one-time
prekey, but not the identity binding signature (the Ed25519 key's signature over the X25519
key). What stands in for it: the peer's user id is a hash of both keys (checked here), the
signed prekey must verify under the signing key (checked here, again, with
:func:`chatkernel.relay.protocol.verify_signed_prekey`: the relay need not be trusted), and the
service asks the identity feature whether both keys are the pinned ones (the invite's
fingerprint covers both). The responder, in turn, checks the initiator's binding, which travels
in the initial header. Nothing here touches the network or a database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay import protocol

from ._kdf import x3dh_kdf
from ._keys import IdentityKeyPair, PublicIdentity, short_hex
from ._x3dh import InitialHeader, X3DHResult, initiator_dh
from .errors import BadSignatureError, BundleError, KeyAgreementError

__all__ = [
    "BASE_KEY_TAG",
    "DirectoryBundle",
    "HEADER_TAG",
    "base_key_hash",
    "header_hash",
    "initiate_from_directory",
    "one_time_prekey_json",
    "parse_bundle",
    "remote_keys",
]

BASE_KEY_TAG = b"chatkernel/crypto/base-key/v1\x00"
HEADER_TAG = b"chatkernel/crypto/x3dh-header/v1"


@dataclass(frozen=True)
class DirectoryBundle:
    """A verified ``GET /keys/{userId}`` answer; public keys only, so its repr is safe."""

    user_id: str
    signing_key: bytes
    exchange_key: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    one_time_prekey_id: int | None = None
    one_time_prekey: bytes | None = None

    def __repr__(self) -> str:
        return (f"DirectoryBundle(user={self.user_id!r}, signing={short_hex(self.signing_key)}…, "
                f"spk={self.signed_prekey_id}, opk={self.one_time_prekey_id})")


def _b64(doc: Mapping[str, Any], name: str, path: str, length: int) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        raise BundleError(path, "missing or not a string")
    try:
        raw = protocol.b64url_decode(value)
    except ValueError:
        raise BundleError(path, "not base64url") from None
    if len(raw) != length:
        raise BundleError(path, f"expected {length} bytes, got {len(raw)}")
    return raw


def _obj(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = doc.get(name)
    if not isinstance(value, Mapping):
        raise BundleError(name, "missing or not an object")
    return value


def _id(doc: Mapping[str, Any], path: str) -> int:
    value = doc.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= protocol.PREKEY_ID_MAX:
        raise BundleError(path, f"a prekey id is an integer from 0 to {protocol.PREKEY_ID_MAX}")
    return value


def parse_bundle(bundle: object, peer: str) -> DirectoryBundle:
    """Check a ``GET /keys/{peer}`` answer: shape, ``userId`` == ``peer``, the user id derived
    from the keys, and the signed prekey's signature. Raises a ``KeyAgreementError``."""
    if not isinstance(bundle, Mapping):
        raise BundleError("$", "a bundle is a JSON object")
    if bundle.get("userId") != peer:
        raise BundleError("userId", "is not the peer's user id")
    public = _obj(bundle, "publicKey")
    signing = _b64(public, "signing", "publicKey.signing", 32)
    exchange = _b64(public, "exchange", "publicKey.exchange", 32)
    if protocol.derive_user_id(signing, exchange) != peer:
        raise BundleError("publicKey", "the keys do not derive the peer's user id")
    spk = _obj(bundle, "signedPrekey")
    spk_id = _id(spk, "signedPrekey.id")
    spk_key = _b64(spk, "key", "signedPrekey.key", 32)
    spk_sig = _b64(spk, "sig", "signedPrekey.sig", 64)
    if not protocol.verify_signed_prekey(signing, spk_id, spk_key, spk_sig):
        raise BadSignatureError("signed prekey")
    opk_id = opk_key = None
    if bundle.get("oneTimePrekey") is not None:
        opk = _obj(bundle, "oneTimePrekey")
        opk_id = _id(opk, "oneTimePrekey.id")
        opk_key = _b64(opk, "key", "oneTimePrekey.key", 32)
    return DirectoryBundle(peer, signing, exchange, spk_id, spk_key, opk_id, opk_key)


def initiate_from_directory(identity: IdentityKeyPair, bundle: DirectoryBundle, *,
                            ephemeral: X25519PrivateKey | None = None) -> X3DHResult:
    """X3DH's initiator half from a verified directory bundle (``_x3dh.initiate`` needs the
    binding signature, which the directory does not serve; see the module docstring)."""
    if bundle.signing_key + bundle.exchange_key == identity.public.keys:
        raise KeyAgreementError("a bundle of our own identity")
    ephemeral = ephemeral or X25519PrivateKey.generate()
    outs = initiator_dh(identity.dh, ephemeral, bundle.exchange_key, bundle.signed_prekey, bundle.one_time_prekey)
    header = InitialHeader(identity.public, ephemeral.public_key().public_bytes_raw(), bundle.signed_prekey_id,
                           bundle.one_time_prekey_id)
    # The remote binding is unknown (empty): PublicIdentity.verify() on it fails closed.
    remote = PublicIdentity(bundle.signing_key, bundle.exchange_key, b"")
    return X3DHResult(x3dh_kdf(outs), identity.public.keys + remote.keys, identity.public, remote, header,
                      bundle.signed_prekey)


def remote_keys(associated_data: bytes, own_keys: bytes) -> bytes:
    """The peer's 64 identity-key bytes in a session's associated data (initiator ‖ responder)."""
    first, second = associated_data[:64], associated_data[64:128]
    return second if first == own_keys else first


def base_key_hash(ephemeral_key: bytes) -> bytes:
    """What the replay guard keeps of a prekey envelope: a tagged hash of its base key."""
    return hashlib.sha256(BASE_KEY_TAG + ephemeral_key).digest()


def header_hash(header: bytes) -> bytes:
    """What a session keeps of the X3DH header that started it: every later prekey envelope
    for that session must carry exactly this header (nothing in it may be altered unnoticed)."""
    return hashlib.sha256(HEADER_TAG + header).digest()


def one_time_prekey_json(key_id: int, public: bytes) -> dict[str, Any]:
    return {"id": key_id, "key": protocol.b64url_encode(public)}
