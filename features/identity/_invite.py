"""Invite strings: how a contact's keys reach you without trusting the relay.

An invite names a user id, both public keys and a relay URL. It travels outside the relay (a
chat message elsewhere, a QR code, paper), so when the relay later serves that user's key
bundle, :func:`check_bundle` refuses any keys but the invite's: the relay cannot swap keys at
first contact. The checksum catches typos, truncation and accidental edits with a precise error;
it is not a signature (anyone forging an invite could recompute it): the invite is only as
trustworthy as the channel that delivered it.

Text form, ASCII and URL-safe (``:`` is legal in a URL path and query)::

    chatkernel:invite:v1:<payload>:<checksum>

``payload`` is unpadded base64url of::

    user id        20 bytes  the 160 bits its 32 base32 characters spell (derive_user_id)
    signing key    32 bytes  raw Ed25519 public key
    exchange key   32 bytes  raw X25519 public key
    url length      1 byte   n, 1..255
    relay URL       n bytes  UTF-8, in check_relay_url's normal form

``checksum`` is unpadded base64url (8 characters) of the first 6 bytes of
``SHA-256(b"chatkernel/identity/invite/v1\\x00" || payload bytes)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field

from chatkernel.relay.protocol import RelayURLError, b64url_decode, b64url_encode, check_relay_url, derive_user_id

from ._record import IdentityPublic, identity_fingerprint, verify_exchange_key
from .errors import (
    BundleMismatchError,
    InviteChecksumError,
    InviteEncodingError,
    InviteFormatError,
    InviteRelayURLError,
    InviteTruncatedError,
    InviteUserIdError,
    InviteVersionError,
)

__all__ = ["INVITE_PREFIX", "INVITE_VERSION", "Invite", "check_bundle", "make_invite", "parse_invite"]

INVITE_PREFIX = "chatkernel:invite:"
INVITE_VERSION = "v1"
CHECKSUM_TAG = b"chatkernel/identity/invite/v1\x00"
_CHECKSUM_BYTES = 6
_CHECKSUM_CHARS = 8
_FIXED = 20 + 32 + 32 + 1
_VERSION_RE = re.compile(r"v[0-9]+\Z")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*\Z")


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(CHECKSUM_TAG + payload).digest()[:_CHECKSUM_BYTES]


def _user_id_bytes(user_id: str) -> bytes:
    return base64.b32decode(user_id.upper())  # 32 characters, 160 bits: exactly 20 bytes


def _relay_url(url: object, *, allow_insecure_remote: bool) -> str:
    try:
        normal = check_relay_url(url, allow_insecure_remote=allow_insecure_remote)
    except RelayURLError as exc:
        raise InviteRelayURLError(url, exc.reason, insecure=exc.insecure) from None
    if normal != url:
        raise InviteRelayURLError(url, f"is not in normal form (expected {normal!r})")
    if not 1 <= len(normal.encode("utf-8")) <= 255:
        raise InviteRelayURLError(url, "is longer than 255 bytes of UTF-8")
    return normal


@dataclass(frozen=True)
class Invite:
    """A decoded, fully checked invite; constructing one checks it the same way parsing does."""

    user_id: str
    signing_key: bytes
    exchange_key: bytes
    relay_url: str
    allow_insecure_remote: bool = field(default=False, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        for name in ("signing_key", "exchange_key"):
            value = getattr(self, name)
            if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
                raise InviteFormatError(f"{name} must be a raw 32-byte key")
            object.__setattr__(self, name, bytes(value))
        derived = derive_user_id(self.signing_key, self.exchange_key)
        if self.user_id != derived:
            raise InviteUserIdError(str(self.user_id), derived)
        _relay_url(self.relay_url, allow_insecure_remote=self.allow_insecure_remote)

    @property
    def fingerprint(self) -> bytes:
        return identity_fingerprint(self.signing_key, self.exchange_key)

    def to_string(self) -> str:
        url = self.relay_url.encode("utf-8")
        payload = _user_id_bytes(self.user_id) + self.signing_key + self.exchange_key + bytes([len(url)]) + url
        return f"{INVITE_PREFIX}{INVITE_VERSION}:{b64url_encode(payload)}:{b64url_encode(_checksum(payload))}"

    __str__ = to_string


def make_invite(public: IdentityPublic, relay_url: str, *, allow_insecure_remote: bool = False) -> Invite:
    """The invite to ``public`` at ``relay_url`` (normalized by check_relay_url first)."""
    try:
        url = check_relay_url(relay_url, allow_insecure_remote=allow_insecure_remote)
    except RelayURLError as exc:
        raise InviteRelayURLError(relay_url, exc.reason, insecure=exc.insecure) from None
    return Invite(public.user_id, public.signing_key, public.exchange_key, url,
                  allow_insecure_remote=allow_insecure_remote)


def _segment(text: str, name: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError as exc:
        raise InviteEncodingError(name, str(exc)) from None


def parse_invite(text: object, *, allow_insecure_remote: bool = False) -> Invite:
    """Decode and check an invite string; every refusal is a precise :class:`InviteError`.

    Checks run from the outside in: prefix, version, segments (a missing tail is truncation),
    base64url, checksum, then the fields (layout, user id derived from the keys, relay URL).
    Surrounding whitespace is ignored (pasted text)."""
    if not isinstance(text, str):
        raise InviteFormatError(f"must be a string, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise InviteFormatError("is empty")
    if not text.startswith(INVITE_PREFIX):
        if INVITE_PREFIX.startswith(text):
            raise InviteTruncatedError(f"{text!r} is only the start of the prefix {INVITE_PREFIX!r}")
        raise InviteFormatError(f"must start with {INVITE_PREFIX!r}")
    parts = text[len(INVITE_PREFIX):].split(":")
    version = parts[0]
    if not _VERSION_RE.match(version):
        if len(parts) == 1 and INVITE_VERSION.startswith(version):
            raise InviteTruncatedError("ends before its version")
        raise InviteFormatError(f"the version must look like v1, got {version!r}")
    if version != INVITE_VERSION:
        raise InviteVersionError(version, (INVITE_VERSION,))
    if len(parts) > 3:
        raise InviteFormatError(f"has {len(parts) - 3} ':' too many; expected version:payload:checksum")
    if len(parts) < 3:
        raise InviteTruncatedError("its checksum segment is missing: the invite was cut short "
                                    "(or the ':' before the checksum was altered)")
    payload_text, checksum_text = parts[1], parts[2]
    if not _B64URL_RE.match(checksum_text):
        raise InviteEncodingError("checksum", "base64url uses only A-Z a-z 0-9 - _")
    if len(checksum_text) < _CHECKSUM_CHARS:
        raise InviteTruncatedError(f"its checksum has {len(checksum_text)} of {_CHECKSUM_CHARS} characters: "
                                   "the invite was cut short")
    if len(checksum_text) > _CHECKSUM_CHARS:
        raise InviteFormatError(f"its checksum has {len(checksum_text)} characters, not {_CHECKSUM_CHARS}")
    payload = _segment(payload_text, "payload")
    checksum = _segment(checksum_text, "checksum")
    if not hmac.compare_digest(checksum, _checksum(payload)):
        raise InviteChecksumError()
    return _fields(payload, allow_insecure_remote=allow_insecure_remote)


def _fields(payload: bytes, *, allow_insecure_remote: bool) -> Invite:
    if len(payload) < _FIXED + 1:
        raise InviteFormatError(f"the payload is {len(payload)} bytes; at least {_FIXED + 1} expected")
    url_length = payload[84]
    if len(payload) != _FIXED + url_length:
        raise InviteFormatError(f"the payload is {len(payload)} bytes but its URL length says {_FIXED + url_length}")
    user_id = base64.b32encode(payload[:20]).decode("ascii").lower()
    try:
        url = payload[85:].decode("utf-8")
    except UnicodeDecodeError:
        raise InviteFormatError("the relay URL is not UTF-8") from None
    return Invite(user_id, payload[20:52], payload[52:84], url, allow_insecure_remote=allow_insecure_remote)


def check_bundle(invite: Invite, signing_key: bytes, exchange_key: bytes, *, signature: bytes | None = None) -> None:
    """Raise :class:`BundleMismatchError` unless the identity keys of a bundle fetched from the
    relay are the invite's own (compared as fingerprints, in constant time); with ``signature``,
    also :class:`KeySignatureError` unless it is the signing key's over the exchange key."""
    got = identity_fingerprint(signing_key, exchange_key)
    expected = invite.fingerprint
    if not hmac.compare_digest(got, expected):
        raise BundleMismatchError(invite.user_id, expected.hex(), got.hex())
    if signature is not None:
        verify_exchange_key(signing_key, exchange_key, signature)
