"""The relay's wire protocol, for the relay and its clients alike.

A client of the relay must not load the server: this module imports neither starlette nor
uvicorn nor any store, only :mod:`cryptography` and the relay's error classes. It holds what
both sides must agree on, so they cannot drift apart:

* self-certifying user ids: a hash of the user's two public keys, so nobody can claim an id
  without the keys (:func:`derive_user_id`, :func:`is_user_id`);
* the signed ``/connect`` proof: an Ed25519 signature over a domain tag, the user id and a
  fresh timestamp (:func:`connect_request` builds the body, :func:`verify_connect_signature`
  checks it);
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
    NOT_FOUND,
    RATE_LIMITED,
    REPLAYED_REQUEST,
    REQUEST_TIMEOUT,
    STALE_TIMESTAMP,
    STORE_UNAVAILABLE,
    TOO_MANY_CONNECTIONS,
    TOO_MANY_POLLS,
    RelayURLError,
)

__all__ = [
    "BAD_SIGNATURE",
    "BODY_TOO_LARGE",
    "CONNECT_TAG",
    "CURSOR_AHEAD",
    "ERROR_CODES",
    "FORBIDDEN",
    "HEADERS_TOO_LARGE",
    "HTTP_ERROR",
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
    "RATE_LIMITED",
    "REPLAYED_REQUEST",
    "REQUEST_TIMEOUT",
    "RelayURLError",
    "SERVICE_NAME",
    "STALE_TIMESTAMP",
    "STORE_UNAVAILABLE",
    "TOO_MANY_CONNECTIONS",
    "TOO_MANY_POLLS",
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
    "is_message_id",
    "is_user_id",
    "now_ms",
    "verify_connect_signature",
]

SERVICE_NAME = "chat-signaling"  # the "service" field of GET /health: how a client knows it found a relay
USER_ID_TAG = b"chatkernel/relay/user-id/v1\x00"
CONNECT_TAG = b"chatkernel/relay/connect/v1\x00"
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
