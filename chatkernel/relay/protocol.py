"""The relay's wire protocol, for the relay and its clients alike.

A client of the relay must not load the server: this module imports neither starlette nor
uvicorn nor any store, only :mod:`cryptography` and the relay's error classes. It holds what
both sides must agree on, so they cannot drift apart:

* self-certifying user ids: a hash of the user's two public keys, so nobody can claim an id
  without the keys (:func:`derive_user_id`, :func:`is_user_id`);
* the signed ``/connect`` proof: an Ed25519 signature over a domain tag, the user id and a
  fresh timestamp (:func:`connect_request` builds the body, :func:`verify_connect_signature`
  checks it);
* the signed prekey of the X3DH key directory: an Ed25519 signature by the identity signing
  key over a domain tag, the prekey's id and its X25519 key (:func:`signed_prekey` builds the
  ``signedPrekey`` object, :func:`verify_signed_prekey` checks it);
* the identity binding, which the relay does not check but every client must: the Ed25519
  identity key's signature over a domain tag and both public keys, which proves the X25519 key
  is that identity's (:func:`identity_binding_message`, :func:`verify_identity_binding`);
* the message-id pattern, the ``/health`` service name, and the ``error`` codes of refusals;
* which URLs a client may use as a relay (:func:`check_relay_url`).
"""

import base64
import binascii
import hashlib
import re
import time
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from .._loopback import is_loopback_host as _is_loopback_host
from ._errors import (
    BAD_PREKEY_SIGNATURE,
    BAD_SIGNATURE,
    BODY_TOO_LARGE,
    CURSOR_AHEAD,
    ERROR_CODES,
    FORBIDDEN,
    HEADERS_TOO_LARGE,
    HTTP_ERROR,
    ID_CONFLICT,
    INTERNAL_ERROR,
    INVALID_FIELD,
    INVALID_JSON,
    INVALID_TOKEN,
    KEY_CONFLICT,
    MAILBOX_FULL,
    METHOD_NOT_ALLOWED,
    MISSING_TOKEN,
    NO_PREKEYS,
    NOT_FOUND,
    RATE_LIMITED,
    REPLAYED_REQUEST,
    REQUEST_TIMEOUT,
    STALE_PREKEY,
    STALE_TIMESTAMP,
    STORE_UNAVAILABLE,
    TOO_MANY_CONNECTIONS,
    TOO_MANY_POLLS,
    TOO_MANY_PREKEYS,
    UNKNOWN_USER,
    RelayURLError,
)

__all__ = [
    "BAD_PREKEY_SIGNATURE",
    "BAD_SIGNATURE",
    "BODY_TOO_LARGE",
    "CONNECT_TAG",
    "CURSOR_AHEAD",
    "ERROR_CODES",
    "FORBIDDEN",
    "HEADERS_TOO_LARGE",
    "HTTP_ERROR",
    "IDENTITY_BINDING_TAG",
    "ID_CONFLICT",
    "INTERNAL_ERROR",
    "INVALID_FIELD",
    "INVALID_JSON",
    "INVALID_TOKEN",
    "KEY_CONFLICT",
    "MAILBOX_FULL",
    "MESSAGE_ID_PATTERN",
    "METHOD_NOT_ALLOWED",
    "MISSING_TOKEN",
    "NOT_FOUND",
    "NO_PREKEYS",
    "PREKEY_ID_MAX",
    "RATE_LIMITED",
    "REPLAYED_REQUEST",
    "REQUEST_TIMEOUT",
    "RelayURLError",
    "SERVICE_NAME",
    "SIGNED_PREKEY_TAG",
    "STALE_PREKEY",
    "STALE_TIMESTAMP",
    "STORE_UNAVAILABLE",
    "TOO_MANY_CONNECTIONS",
    "TOO_MANY_POLLS",
    "TOO_MANY_PREKEYS",
    "UNKNOWN_USER",
    "USER_ID_LENGTH",
    "USER_ID_PATTERN",
    "USER_ID_TAG",
    "b64url_decode",
    "b64url_encode",
    "b64url_pattern",
    "check_relay_url",
    "connect_message",
    "connect_request",
    "derive_user_id",
    "identity_binding_message",
    "is_message_id",
    "is_user_id",
    "now_ms",
    "signed_prekey",
    "signed_prekey_message",
    "verify_connect_signature",
    "verify_identity_binding",
    "verify_signed_prekey",
]

SERVICE_NAME = "chat-signaling"  # the "service" field of GET /health: how a client knows it found a relay
USER_ID_TAG = b"chatkernel/relay/user-id/v1\x00"
CONNECT_TAG = b"chatkernel/relay/connect/v1\x00"
SIGNED_PREKEY_TAG = b"chatkernel/relay/signed-prekey/v1\x00"
# Not "chatkernel/relay/...": the identity feature defined it first, and its invites and safety
# numbers commit to signatures made with exactly these bytes.
IDENTITY_BINDING_TAG = b"chatkernel/identity/exchange-key/v1\x00"
PREKEY_ID_MAX = 2**32 - 1  # prekey ids are unsigned 32-bit integers (4 bytes in the signed message)
USER_ID_LENGTH = 32  # base32 characters: 160 bits of SHA-256
USER_ID_PATTERN = r"^[a-z2-7]{%d}$" % USER_ID_LENGTH
MESSAGE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"  # the client's id of a sent message
_USER_ID_RE = re.compile(USER_ID_PATTERN.rstrip("$") + r"\Z")
_MESSAGE_ID_RE = re.compile(MESSAGE_ID_PATTERN.rstrip("$") + r"\Z")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*\Z")
_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_now = now_ms  # connect_request's keyword argument shadows the function's name


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode the one form :func:`b64url_encode` writes (RFC 4648 section 5, unpadded, unused
    bits zero), so every byte string has exactly one accepted spelling; anything else raises
    ``ValueError`` saying which rule it breaks."""
    if not isinstance(text, str):
        raise ValueError(f"base64url must be a string, not {type(text).__name__}")
    if "=" in text:
        raise ValueError("base64url must be unpadded (no '=')")
    if not _B64URL_RE.match(text):
        raise ValueError("base64url uses only A-Z a-z 0-9 - _")
    if len(text) % 4 == 1:
        raise ValueError(f"{len(text)} characters cannot be base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the checks above leave nothing for it
        raise ValueError("not base64url") from exc
    if b64url_encode(raw) != text:
        raise ValueError("base64url is not canonical: the unused low bits of the last character must be zero")
    return raw


def b64url_pattern(length: int) -> str:
    """The regular expression of exactly the strings :func:`b64url_decode` accepts for
    ``length`` bytes (for schemas: the last character carries only zero bits past the data)."""
    if length <= 0:
        raise ValueError("length must be positive")
    chars, spare = -(-length * 4 // 3), (-length * 8) % 6
    last = "".join(c for i, c in enumerate(_B64URL_ALPHABET) if i % (1 << spare) == 0)
    last_class = "A-Za-z0-9_-" if spare == 0 else last  # letters and digits only: no escapes
    return r"^[A-Za-z0-9_-]{%d}[%s]$" % (chars - 1, last_class)


def derive_user_id(signing_pub: bytes, exchange_pub: bytes) -> str:
    """The user id both keys commit to: lower-case base32 of SHA-256(tag, keys), truncated."""
    if len(signing_pub) != 32 or len(exchange_pub) != 32:
        raise ValueError("public keys must be raw 32-byte keys")
    digest = hashlib.sha256(USER_ID_TAG + bytes(signing_pub) + bytes(exchange_pub)).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:USER_ID_LENGTH]


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID_RE.match(value) is not None


def is_message_id(value: object) -> bool:
    return isinstance(value, str) and _MESSAGE_ID_RE.match(value) is not None


def connect_message(user_id: str, ts_ms: int) -> bytes:
    """The exact bytes a ``/connect`` signature covers (domain tag, user id, timestamp)."""
    return CONNECT_TAG + user_id.encode("ascii") + b"\x00" + str(int(ts_ms)).encode("ascii")


def _raw_public(key: Any, kind: type) -> bytes:
    if isinstance(key, (bytes, bytearray)):
        return bytes(key)
    if isinstance(key, kind):
        return key.public_bytes_raw()  # type: ignore[attr-defined,no-any-return]
    raise TypeError(f"expected {kind.__name__} or raw bytes, got {type(key).__name__}")


def connect_request(
    signing_private_key: Ed25519PrivateKey | bytes,
    exchange_public_key: X25519PublicKey | bytes,
    *,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """Build a valid ``POST /connect`` body for these keys, signed at ``now_ms``."""
    if isinstance(signing_private_key, (bytes, bytearray)):
        signing_private_key = Ed25519PrivateKey.from_private_bytes(bytes(signing_private_key))
    signing_pub = signing_private_key.public_key().public_bytes_raw()
    exchange_pub = _raw_public(exchange_public_key, X25519PublicKey)
    user_id = derive_user_id(signing_pub, exchange_pub)
    ts = _now() if now_ms is None else int(now_ms)
    signature = signing_private_key.sign(connect_message(user_id, ts))
    return {
        "userId": user_id,
        "publicKey": {"signing": b64url_encode(signing_pub), "exchange": b64url_encode(exchange_pub)},
        "ts": ts,
        "sig": b64url_encode(signature),
    }


def verify_connect_signature(signing_pub: bytes, user_id: str, ts_ms: int, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(signing_pub).verify(signature, connect_message(user_id, ts_ms))
    except (InvalidSignature, ValueError):
        return False
    return True


def signed_prekey_message(prekey_id: int, prekey_pub: bytes) -> bytes:
    """The exact bytes a signed prekey's signature covers: the domain tag, the id as 4 bytes
    big-endian and the raw 32-byte X25519 key. The id is signed so the relay cannot relabel a
    key (the responder looks its private key up by id)."""
    if isinstance(prekey_id, bool) or not isinstance(prekey_id, int) or not 0 <= prekey_id <= PREKEY_ID_MAX:
        raise ValueError(f"a prekey id is an integer from 0 to {PREKEY_ID_MAX}, got {prekey_id!r}")
    if len(prekey_pub) != 32:
        raise ValueError("a prekey is a raw 32-byte X25519 public key")
    return SIGNED_PREKEY_TAG + prekey_id.to_bytes(4, "big") + bytes(prekey_pub)


def signed_prekey(
    signing_private_key: Ed25519PrivateKey | bytes, prekey_id: int, prekey: X25519PublicKey | bytes
) -> dict[str, Any]:
    """The ``signedPrekey`` object of ``POST /keys``: ``{"id", "key", "sig"}``."""
    if isinstance(signing_private_key, (bytes, bytearray)):
        signing_private_key = Ed25519PrivateKey.from_private_bytes(bytes(signing_private_key))
    raw = _raw_public(prekey, X25519PublicKey)
    signature = signing_private_key.sign(signed_prekey_message(prekey_id, raw))
    return {"id": prekey_id, "key": b64url_encode(raw), "sig": b64url_encode(signature)}


def verify_signed_prekey(signing_pub: bytes, prekey_id: int, prekey_pub: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the identity key's over this prekey: what the relay checks at
    upload, and what an X3DH initiator must check again before using a fetched bundle."""
    try:
        Ed25519PublicKey.from_public_bytes(signing_pub).verify(signature, signed_prekey_message(prekey_id, prekey_pub))
    except (InvalidSignature, ValueError):
        return False
    return True


def identity_binding_message(signing_pub: bytes, exchange_pub: bytes) -> bytes:
    """The exact bytes the identity binding signature covers: the domain tag, the raw 32-byte
    Ed25519 public key, then the raw 32-byte X25519 public key (100 bytes). Both keys are
    signed, so a binding cannot be moved to another identity."""
    if len(signing_pub) != 32 or len(exchange_pub) != 32:
        raise ValueError("public keys must be raw 32-byte keys")
    return IDENTITY_BINDING_TAG + bytes(signing_pub) + bytes(exchange_pub)


def verify_identity_binding(signing_pub: bytes, exchange_pub: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the Ed25519 key's over this X25519 key: what a client checks
    before it trusts a peer's X25519 key (in X3DH, an invite, a safety number)."""
    try:
        Ed25519PublicKey.from_public_bytes(signing_pub).verify(
            signature, identity_binding_message(signing_pub, exchange_pub))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def check_relay_url(url: object, *, allow_insecure_remote: bool = False) -> str:
    """The URL a client may use as a relay, normalised (trimmed, no trailing slash), or
    :class:`RelayURLError` naming the rule broken in words a user can act on.

    An http(s) URL with a host and nothing else: no credentials, query or fragment. Plain
    ``http://`` only to a loopback host (:func:`chatkernel.is_loopback_host`), unless
    ``allow_insecure_remote``; a refusal for that reason alone has ``insecure=True``.
    """
    if not isinstance(url, str):
        raise RelayURLError(url, f"must be a string, got {type(url).__name__}")
    text = url.strip()
    if not text:
        raise RelayURLError(url, "is empty (reset to use the default relay)")
    if any(ch.isspace() for ch in text):
        raise RelayURLError(url, f"{text!r} contains whitespace")
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. an unclosed or invalid [IPv6] host
        raise RelayURLError(url, f"{text!r} is not a valid URL: {exc}") from None
    if not parts.scheme or "://" not in text:
        raise RelayURLError(url, f"{text!r} has no scheme; start it with https:// or http://")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise RelayURLError(url, f"scheme must be http or https, got {parts.scheme!r}")
    if parts.username is not None or parts.password is not None:
        raise RelayURLError(url, "must not contain credentials (user:password@)")
    if not parts.hostname:
        raise RelayURLError(url, f"{text!r} has no host")
    if parts.query or "?" in text:
        raise RelayURLError(url, "must not have a query (?...)")
    if parts.fragment or "#" in text:
        raise RelayURLError(url, "must not have a fragment (#...)")
    try:
        parts.port
    except ValueError as exc:
        raise RelayURLError(url, f"has an invalid port: {exc}") from None
    if scheme == "http" and not allow_insecure_remote and not _is_loopback_host(parts.hostname):
        raise RelayURLError(
            url,
            "plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, localhost), "
            f"not {parts.hostname!r}; use https:// or set allow_insecure_remote",
            insecure=True,
        )
    return text.rstrip("/")
