"""X3DH (Signal spec rev 1): the initiator and responder halves, and the initial header.

Every signature is checked before the first DH; the ephemeral key lives only inside
``initiate``. The associated data is the initiator's identity keys then the responder's
(Ed25519 ‖ X25519 each, 128 bytes), so both sides derive it identically and every ratchet
message is bound to the pair of identities.

Initial header (what the initiator sends with its first ratchet message), 170 bytes::

    version u8 = 1 ‖ initiator PublicIdentity (128) ‖ ephemeral X25519 (32)
    ‖ signed prekey id u32 ‖ has one-time prekey u8 (0/1) ‖ one-time prekey id u32 (0 if none)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ._kdf import X3DH_INFO as _X3DH_INFO
from ._kdf import x3dh_kdf
from ._keys import IdentityKeyPair, OneTimePreKey, PreKeyBundle, PublicIdentity, SignedPreKey, dh
from .errors import InvalidKeyError, KeyAgreementError, MessageFormatError

__all__ = [
    "InitialHeader",
    "X3DHResult",
    "associated_data",
    "initiate",
    "initiator_dh",
    "respond",
    "responder_dh",
]

_VERSION = 1
_TAIL = struct.Struct(">I B I")


@dataclass(frozen=True)
class InitialHeader:
    identity: PublicIdentity
    ephemeral_key: bytes
    signed_prekey_id: int
    one_time_prekey_id: int | None = None

    ENCODED_LEN = 1 + PublicIdentity.ENCODED_LEN + 32 + _TAIL.size

    def encode(self) -> bytes:
        has_opk = self.one_time_prekey_id is not None
        tail = _TAIL.pack(self.signed_prekey_id, has_opk, self.one_time_prekey_id or 0)
        return bytes([_VERSION]) + self.identity.encode() + self.ephemeral_key + tail

    @classmethod
    def decode(cls, data: bytes) -> InitialHeader:
        if len(data) != cls.ENCODED_LEN:
            raise MessageFormatError(f"initial header must be {cls.ENCODED_LEN} bytes, got {len(data)}")
        if data[0] != _VERSION:
            raise MessageFormatError(f"unknown initial header version {data[0]}")
        identity = PublicIdentity.decode(data[1:129])
        spk_id, has_opk, opk_id = _TAIL.unpack(data[161:])
        if has_opk not in (0, 1) or (not has_opk and opk_id):
            raise MessageFormatError("bad one-time prekey field")
        return cls(identity, bytes(data[129:161]), spk_id, opk_id if has_opk else None)


@dataclass(frozen=True, repr=False, eq=False)
class X3DHResult:
    """The session secret and what the ratchet needs next; repr shows no secret."""

    shared_key: bytes
    associated_data: bytes
    local: PublicIdentity
    remote: PublicIdentity
    header: InitialHeader
    remote_ratchet_key: bytes | None  # the initiator's first DHr: the responder's signed prekey

    def __repr__(self) -> str:
        return f"X3DHResult(local={self.local!r}, remote={self.remote!r}, shared_key=<redacted>)"


def associated_data(initiator: PublicIdentity, responder: PublicIdentity) -> bytes:
    return initiator.keys + responder.keys


def initiator_dh(identity_dh: X25519PrivateKey, ephemeral: X25519PrivateKey, remote_identity_dh: bytes,
                 signed_prekey: bytes, one_time_prekey: bytes | None) -> list[bytes]:
    """DH1..DH4 in protocol order: (IK_A, SPK_B), (EK_A, IK_B), (EK_A, SPK_B), (EK_A, OPK_B)."""
    outs = [dh(identity_dh, signed_prekey, "signed prekey"),
            dh(ephemeral, remote_identity_dh, "identity key"),
            dh(ephemeral, signed_prekey, "signed prekey")]
    if one_time_prekey is not None:
        outs.append(dh(ephemeral, one_time_prekey, "one-time prekey"))
    return outs


def responder_dh(identity_dh: X25519PrivateKey, signed_prekey: X25519PrivateKey,
                 one_time_prekey: X25519PrivateKey | None, remote_identity_dh: bytes,
                 ephemeral: bytes) -> list[bytes]:
    """The same four values from the responder's side (DH is symmetric)."""
    outs = [dh(signed_prekey, remote_identity_dh, "identity key"),
            dh(identity_dh, ephemeral, "ephemeral key"),
            dh(signed_prekey, ephemeral, "ephemeral key")]
    if one_time_prekey is not None:
        outs.append(dh(one_time_prekey, ephemeral, "ephemeral key"))
    return outs


def initiate(identity: IdentityKeyPair, bundle: PreKeyBundle, *, info: bytes = _X3DH_INFO,
             ephemeral: X25519PrivateKey | None = None) -> X3DHResult:
    """Start a session from a fetched bundle; ``ephemeral`` is for known-answer tests only."""
    bundle.verify()
    if bundle.identity.keys == identity.public.keys:
        raise KeyAgreementError("a bundle of our own identity")
    ephemeral = ephemeral or X25519PrivateKey.generate()
    outs = initiator_dh(identity.dh, ephemeral, bundle.identity.dh_key, bundle.signed_prekey, bundle.one_time_prekey)
    header = InitialHeader(identity.public, ephemeral.public_key().public_bytes_raw(), bundle.signed_prekey_id,
                           bundle.one_time_prekey_id)
    return X3DHResult(x3dh_kdf(outs, info=info), associated_data(identity.public, bundle.identity),
                      identity.public, bundle.identity, header, bundle.signed_prekey)


def respond(identity: IdentityKeyPair, header: InitialHeader, signed_prekey: SignedPreKey,
            one_time_prekey: OneTimePreKey | None = None, *, info: bytes = _X3DH_INFO) -> X3DHResult:
    """Accept a session; the caller looked the prekeys up by the header's ids and deletes the
    one-time prekey afterwards (so it is never usable twice)."""
    header.identity.verify()
    if header.signed_prekey_id != signed_prekey.key_id:
        raise KeyAgreementError(f"header names signed prekey {header.signed_prekey_id}, "
                                f"given {signed_prekey.key_id}")
    wanted = header.one_time_prekey_id
    given = None if one_time_prekey is None else one_time_prekey.key_id
    if wanted != given:
        raise KeyAgreementError(f"header names one-time prekey {wanted}, given {given}")
    if len(header.ephemeral_key) != 32:
        raise InvalidKeyError("ephemeral key", "expected 32 bytes")
    outs = responder_dh(identity.dh, signed_prekey.private,
                        None if one_time_prekey is None else one_time_prekey.private,
                        header.identity.dh_key, header.ephemeral_key)
    return X3DHResult(x3dh_kdf(outs, info=info), associated_data(header.identity, identity.public),
                      identity.public, header.identity, header, None)

