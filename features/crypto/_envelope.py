"""Envelopes: a pairwise ratchet message as it goes on the wire, with X3DH's header when needed.

Until the responder's first reply decrypts, the initiator cannot know its X3DH header arrived,
so every message it sends carries it (Signal's PreKeySignalMessage)::

    ratchet envelope = 0x01 ‖ ratchet message
    prekey envelope  = 0x02 ‖ initial header (170 bytes) ‖ ratchet message

``accept`` turns a prekey envelope into a responder session and the first plaintext; nothing is
created unless the embedded message authenticates. The caller then deletes the one-time
prekey it used and stores the session, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from ._keys import IdentityKeyPair, OneTimePreKey, SignedPreKey
from ._ratchet import Session
from ._state import Limits
from ._x3dh import InitialHeader, respond
from .errors import KeyAgreementError, MessageFormatError

__all__ = ["PREKEY", "RATCHET", "accept", "header_bytes", "initial_header", "kind", "open_envelope", "seal"]

RATCHET = 0x01
PREKEY = 0x02
_HEADER_END = 1 + InitialHeader.ENCODED_LEN


def kind(envelope: bytes) -> int:
    """``RATCHET`` or ``PREKEY``: which of ``open_envelope`` and ``accept`` this needs."""
    if not envelope or envelope[0] not in (RATCHET, PREKEY):
        raise MessageFormatError("unknown envelope type")
    return envelope[0]


def seal(session: Session, plaintext: bytes) -> bytes:
    message = session.encrypt(plaintext)
    header = session.initial_header
    return bytes([RATCHET]) + message if header is None else bytes([PREKEY]) + header + message


def open_envelope(session: Session, envelope: bytes) -> bytes:
    """Decrypt with an existing session (a prekey envelope's header is then already known)."""
    return session.decrypt(envelope[1:] if kind(envelope) == RATCHET else envelope[_HEADER_END:])


def header_bytes(envelope: bytes) -> bytes:
    """The encoded X3DH header of a prekey envelope."""
    if kind(envelope) != PREKEY or len(envelope) < _HEADER_END:
        raise MessageFormatError("not a prekey envelope")
    return envelope[1:_HEADER_END]


def initial_header(envelope: bytes) -> InitialHeader:
    if kind(envelope) != PREKEY:
        raise MessageFormatError("not a prekey envelope")
    return InitialHeader.decode(envelope[1:_HEADER_END])


def accept(identity: IdentityKeyPair, envelope: bytes,
           signed_prekey: Callable[[int], SignedPreKey | None],
           one_time_prekey: Callable[[int], OneTimePreKey | None], *,
           limits: Limits | None = None) -> tuple[Session, bytes, InitialHeader]:
    """Start the responder's session from a prekey envelope; ``signed_prekey`` and
    ``one_time_prekey`` look keys up by id (current or previous SPK; unused OPKs only)."""
    header = initial_header(envelope)
    spk = signed_prekey(header.signed_prekey_id)
    if spk is None:
        raise KeyAgreementError(f"unknown signed prekey {header.signed_prekey_id}")
    opk = None
    if header.one_time_prekey_id is not None:
        opk = one_time_prekey(header.one_time_prekey_id)
        if opk is None:
            raise KeyAgreementError(f"unknown or already used one-time prekey {header.one_time_prekey_id}")
    session = Session.responder(respond(identity, header, spk, opk), spk, limits=limits)
    plaintext = session.decrypt(envelope[_HEADER_END:])
    return session, plaintext, header
