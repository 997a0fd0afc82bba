"""The Double Ratchet (Signal spec rev 1) with AES-256-GCM, over a ``RatchetState``.

Wire format of one ratchet message::

    header (41 bytes) = version u8 (1) ‖ sender ratchet public key (32) ‖ PN u32 ‖ N u32  (big-endian)
    message           = header ‖ AES-256-GCM ciphertext ‖ tag (16)
    AEAD associated data = session AD (both identities, 128 bytes) ‖ header

``encrypt`` advances the state in place and returns the message: persist ``to_bytes()`` with
the message in one transaction, then send, so a crash never re-derives a sent message key.
``decrypt`` computes every change into locals and commits them only after the tag verified:
a tampered, forged, replayed or over-skipping message leaves the state exactly as it was.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._kdf import kdf_ck, kdf_rk, message_keys
from ._keys import SignedPreKey, dh, x25519_private
from ._state import Limits, RatchetState, SkippedKey
from ._x3dh import X3DHResult
from .errors import (
    AuthenticationError,
    DecryptionError,
    DuplicateMessageError,
    InvalidKeyError,
    MessageFormatError,
    SessionNotReadyError,
    TooManySkippedError,
)

__all__ = ["HEADER_LEN", "Header", "Session", "TAG_LEN"]

_HEADER = struct.Struct(">B32sII")
HEADER_LEN = _HEADER.size
TAG_LEN = 16
_VERSION = 1
_MAX_COUNTER = 2**32 - 1


@dataclass(frozen=True)
class Header:
    dh: bytes
    pn: int
    n: int

    def encode(self) -> bytes:
        return _HEADER.pack(_VERSION, self.dh, self.pn, self.n)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        if len(data) != HEADER_LEN:
            raise MessageFormatError(f"header must be {HEADER_LEN} bytes")
        version, pub, pn, n = _HEADER.unpack(data)
        if version != _VERSION:
            raise MessageFormatError(f"unknown message version {version}")
        return cls(pub, pn, n)


def _seal(mk: bytes, ad: bytes, plaintext: bytes) -> bytes:
    key, nonce = message_keys(mk)
    return AESGCM(key).encrypt(nonce, plaintext, ad)


def _open(mk: bytes, ad: bytes, body: bytes) -> bytes:
    key, nonce = message_keys(mk)
    try:
        return AESGCM(key).decrypt(nonce, body, ad)
    except InvalidTag:
        raise AuthenticationError() from None


def _new_dh() -> tuple[bytes, bytes]:
    private = X25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


class Session:
    """One pairwise session. Not thread-safe: one owner (the crypto actor) drives it."""

    __slots__ = ("_state", "limits")

    def __init__(self, state: RatchetState, limits: Limits | None = None) -> None:
        self._state = state
        self.limits = limits or Limits()

    @classmethod
    def initiator(cls, x3dh: X3DHResult, *, limits: Limits | None = None) -> Session:
        """Alice: the responder's signed prekey is her first DHr; she can send at once."""
        if x3dh.remote_ratchet_key is None:
            raise SessionNotReadyError("an initiator session needs the responder's signed prekey")
        priv, pub = _new_dh()
        rk, cks = kdf_rk(x3dh.shared_key, dh(x25519_private(priv), x3dh.remote_ratchet_key, "signed prekey"))
        return cls(RatchetState(ad=x3dh.associated_data, dhs_private=priv, dhs_public=pub, rk=rk,
                                dhr=x3dh.remote_ratchet_key, cks=cks, initial_header=x3dh.header.encode()), limits)

    @classmethod
    def responder(cls, x3dh: X3DHResult, signed_prekey: SignedPreKey | X25519PrivateKey | bytes, *,
                  limits: Limits | None = None) -> Session:
        """Bob: his signed prekey is his first ratchet key; he sends after his first receive."""
        private = signed_prekey.private if isinstance(signed_prekey, SignedPreKey) else x25519_private(signed_prekey)
        return cls(RatchetState(ad=x3dh.associated_data, dhs_private=private.private_bytes_raw(),
                                dhs_public=private.public_key().public_bytes_raw(), rk=x3dh.shared_key), limits)

    @classmethod
    def from_bytes(cls, data: bytes, *, limits: Limits | None = None) -> Session:
        return cls(RatchetState.from_bytes(data), limits)

    def to_bytes(self) -> bytes:
        return self._state.to_bytes()

    @property
    def associated_data(self) -> bytes:
        return self._state.ad

    @property
    def skipped_count(self) -> int:
        return len(self._state.skipped)

    @property
    def initial_header(self) -> bytes | None:
        """The X3DH header to send with every message until the peer's first reply decrypts."""
        return self._state.initial_header

    @property
    def can_send(self) -> bool:
        return self._state.cks is not None

    def __repr__(self) -> str:
        return f"Session({self._state!r})"

    def encrypt(self, plaintext: bytes) -> bytes:
        s = self._state
        if s.cks is None:
            raise SessionNotReadyError("no sending chain until the first message is received")
        if s.ns >= _MAX_COUNTER:
            raise SessionNotReadyError("sending chain exhausted; wait for the peer's ratchet step")
        header = _HEADER.pack(_VERSION, s.dhs_public, s.pn, s.ns)
        s.cks, mk = kdf_ck(s.cks)
        s.ns += 1
        return header + _seal(mk, s.ad + header, plaintext)

    def decrypt(self, message: bytes) -> bytes:
        if len(message) < HEADER_LEN + TAG_LEN:
            raise MessageFormatError("shorter than a header and a tag")
        raw_header, body = message[:HEADER_LEN], message[HEADER_LEN:]
        header = Header.decode(raw_header)
        s, limits = self._state, self.limits
        ad = s.ad + raw_header

        mk = s.skipped.get((header.dh, header.n))
        if mk is not None:
            plaintext = _open(mk, ad, body)
            del s.skipped[(header.dh, header.n)]
            s.initial_header = None
            return plaintext

        new_skipped: list[tuple[SkippedKey, bytes]] = []
        if header.dh == s.dhr:
            if header.n < s.nr:
                raise DuplicateMessageError(header.n)
            if header.n - s.nr > limits.max_skip:
                raise TooManySkippedError(header.n - s.nr, limits.max_skip)
            if s.ckr is None:  # an initiator's first DHr (the responder's signed prekey) has no chain
                raise DecryptionError("no receiving chain for this ratchet key")
            ckr = _skip(s.ckr, s.dhr, s.nr, header.n, new_skipped)
            ckr, mk = kdf_ck(ckr)
            plaintext = _open(mk, ad, body)
            s.ckr, s.nr, s.initial_header = ckr, header.n + 1, None
            self._store_skipped(new_skipped)
            return plaintext

        if header.dh in s.previous_dhr:
            raise DuplicateMessageError(header.n)
        old = max(0, header.pn - s.nr) if s.ckr is not None else 0
        if old + header.n > limits.max_skip:
            raise TooManySkippedError(old + header.n, limits.max_skip)
        if s.ckr is not None and s.dhr is not None:
            _skip(s.ckr, s.dhr, s.nr, s.nr + old, new_skipped)
        # The DH ratchet step (spec §3.5), computed on locals only.
        priv, pub = _new_dh()
        try:
            rk, ckr = kdf_rk(s.rk, dh(x25519_private(s.dhs_private), header.dh, "ratchet key"))
            rk, cks = kdf_rk(rk, dh(x25519_private(priv), header.dh, "ratchet key"))
        except InvalidKeyError:
            raise DecryptionError("the header's ratchet key is not a valid X25519 point") from None
        ckr = _skip(ckr, header.dh, 0, header.n, new_skipped)
        ckr, mk = kdf_ck(ckr)
        plaintext = _open(mk, ad, body)
        # Authentic: commit.
        if s.dhr is not None:
            s.previous_dhr = ((s.dhr,) + s.previous_dhr)[: limits.max_previous_chains]
        s.pn, s.ns, s.nr = s.ns, 0, header.n + 1
        s.dhr, s.rk, s.ckr, s.cks = header.dh, rk, ckr, cks
        s.dhs_private, s.dhs_public, s.initial_header = priv, pub, None
        self._store_skipped(new_skipped)
        return plaintext

    def _store_skipped(self, new: list[tuple[SkippedKey, bytes]]) -> None:
        skipped = self._state.skipped
        skipped.update(new)
        excess = len(skipped) - self.limits.max_skipped_keys
        if excess > 0:
            for key in list(skipped)[:excess]:  # oldest first: dicts keep insertion order
                del skipped[key]


def _skip(ck: bytes, pub: bytes, start: int, until: int, out: list[tuple[SkippedKey, bytes]]) -> bytes:
    """Derive the keys of messages ``start..until-1`` into ``out``; return the chain key at ``until``."""
    for n in range(start, until):
        ck, mk = kdf_ck(ck)
        out.append(((pub, n), mk))
    return ck
