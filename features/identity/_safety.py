"""Safety numbers: the 60 digits two people compare to know no one sits between them.

The algorithm is libsignal's displayable numeric fingerprint, version 1
(``rust/protocol/src/fingerprint.rs``, ``Fingerprint::get_fingerprint`` and
``DisplayableFingerprint``), reproduced so our digits are exactly Signal's for Signal's inputs:

* per side, ``H = SHA-512(0x0000 || key || stable_id || key)``, then 5199 more rounds of
  ``H = SHA-512(H || key)`` (5200 hashes in all; the 2-byte ``0x0000`` is the fingerprint
  format version, the same for scannable versions 1 and 2);
* the first 30 bytes of ``H`` as six big-endian 5-byte integers, each ``mod 100000`` written as
  five digits: 30 digits per side;
* both sides' 30 digits concatenated in sorted (string) order, so both people see one number.

``key`` is hashed exactly as given. Signal passes its 33-byte serialized ``IdentityKey``
(``0x05`` then the 32-byte Curve25519 public key). chatkernel passes
``IdentityPublic.identity_key``: the raw 32-byte Ed25519 public key followed by the raw 32-byte
X25519 public key (64 bytes), with the ASCII user id as the stable id, so the number commits to
both keys and the id.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

__all__ = ["FINGERPRINT_ITERATIONS", "format_safety_number", "safety_number", "safety_number_between",
           "safety_numbers_match"]

FINGERPRINT_ITERATIONS = 5200  # libsignal's value for every displayed safety number
_FINGERPRINT_FORMAT = b"\x00\x00"  # fingerprint_version in get_fingerprint: 0x0000
_DIGITS = 60


class _HasSafetyKey(Protocol):
    @property
    def user_id(self) -> str: ...

    @property
    def identity_key(self) -> bytes: ...


def _iterated_hash(stable_id: bytes, key: bytes, iterations: int = FINGERPRINT_ITERATIONS) -> bytes:
    """One side's 64-byte hash; its first 32 bytes are what libsignal's scannable form carries."""
    digest = hashlib.sha512(_FINGERPRINT_FORMAT + key + stable_id + key).digest()
    sha512 = hashlib.sha512
    for _ in range(iterations - 1):
        digest = sha512(digest + key).digest()
    return digest


def _thirty_digits(digest: bytes) -> str:
    return "".join(f"{int.from_bytes(digest[i:i + 5], 'big') % 100_000:05d}" for i in range(0, 30, 5))


def _as_bytes(value: object, name: str, *, allow_empty: bool) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    data = bytes(value)
    if not data and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return data


def safety_number(local_stable_id: bytes, local_identity_key: bytes,
                  remote_stable_id: bytes, remote_identity_key: bytes) -> str:
    """The 60-digit safety number of two identities; both sides compute the same digits."""
    local = _iterated_hash(_as_bytes(local_stable_id, "local_stable_id", allow_empty=True),
                           _as_bytes(local_identity_key, "local_identity_key", allow_empty=False))
    remote = _iterated_hash(_as_bytes(remote_stable_id, "remote_stable_id", allow_empty=True),
                            _as_bytes(remote_identity_key, "remote_identity_key", allow_empty=False))
    a, b = _thirty_digits(local), _thirty_digits(remote)
    return a + b if a < b else b + a  # DisplayableFingerprint's Display: the smaller half first


def safety_number_between(local: _HasSafetyKey, remote: _HasSafetyKey) -> str:
    """The safety number of two chatkernel identities (user id as stable id, both keys as key)."""
    return safety_number(local.user_id.encode("ascii"), local.identity_key,
                         remote.user_id.encode("ascii"), remote.identity_key)


def _digits_only(number: str) -> str | None:
    if not isinstance(number, str):
        return None
    digits = "".join(number.split())  # people type and paste it with spaces and line breaks
    if len(digits) != _DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def format_safety_number(number: str, *, groups_per_line: int = 12) -> str:
    """Twelve groups of five digits, as Signal shows them (``groups_per_line=4`` gives its 3 rows)."""
    digits = _digits_only(number)
    if digits is None:
        raise ValueError("a safety number is 60 digits")
    if groups_per_line < 1:
        raise ValueError("groups_per_line must be at least 1")
    groups = [digits[i:i + 5] for i in range(0, _DIGITS, 5)]
    return "\n".join(" ".join(groups[i:i + groups_per_line]) for i in range(0, len(groups), groups_per_line))


def safety_numbers_match(a: str, b: str) -> bool:
    """Whether two safety numbers are the same 60 digits (whitespace ignored), compared in
    constant time so the comparison leaks nothing about where they differ."""
    left, right = _digits_only(a), _digits_only(b)
    if left is None or right is None:
        return False
    return hmac.compare_digest(left.encode("ascii"), right.encode("ascii"))
