"""Self-certifying user ids and the signed ``/connect`` proof.

A user id is a hash of the user's two public keys, so nobody can claim an id without the
keys, and the Ed25519 signature over a fresh timestamp proves possession of the private key.
The client helper lives here too, so the relay and the signaling feature cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

__all__ = [
    "CONNECT_TAG",
    "USER_ID_LENGTH",
    "USER_ID_TAG",
    "b64url_decode",
    "b64url_encode",
    "connect_message",
    "connect_request",
    "derive_user_id",
    "is_user_id",
    "now_ms",
    "verify_connect_signature",
]

USER_ID_TAG = b"chatkernel/relay/user-id/v1\x00"
CONNECT_TAG = b"chatkernel/relay/connect/v1\x00"
USER_ID_LENGTH = 32  # base32 characters: 160 bits of SHA-256
_USER_ID_RE = re.compile(r"[a-z2-7]{%d}\Z" % USER_ID_LENGTH)
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}\Z")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_now = now_ms  # connect_request's keyword argument shadows the function's name


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; anything else raises ``ValueError``."""
    if not _B64URL_RE.match(text):
        raise ValueError("not base64url")
    stripped = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def derive_user_id(signing_pub: bytes, exchange_pub: bytes) -> str:
    """The user id both keys commit to: lower-case base32 of SHA-256(tag, keys), truncated."""
    if len(signing_pub) != 32 or len(exchange_pub) != 32:
        raise ValueError("public keys must be raw 32-byte keys")
    digest = hashlib.sha256(USER_ID_TAG + bytes(signing_pub) + bytes(exchange_pub)).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:USER_ID_LENGTH]


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID_RE.match(value) is not None


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
