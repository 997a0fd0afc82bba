"""The key derivations of X3DH and the Double Ratchet, each a thin call into ``cryptography``.

Labels are parameters with our defaults, so the same functions reproduce libsignal's published
vectors under libsignal's labels (the tests do exactly that). Nothing here is a primitive of
our own: HKDF-SHA256 and HMAC-SHA256 come from ``cryptography``.

- X3DH KDF (X3DH spec §2.2): ``HKDF(salt=0*32, ikm=0xFF*32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], info)``.
- KDF_RK (DR spec §5.2): ``HKDF(salt=RK, ikm=DH output, info) -> RK' ‖ CK``.
- KDF_CK (DR spec §5.2): ``MK = HMAC(CK, 0x01)``, ``CK' = HMAC(CK, 0x02)``.
- Message keys: ``HKDF(salt=0*32, ikm=MK, info) -> AES-256 key ‖ 96-bit nonce``; each MK is
  used once, so a derived (not random) nonce is safe and keeps encryption deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "KEY_LEN",
    "MESSAGE_KEYS_INFO",
    "NONCE_LEN",
    "ROOT_INFO",
    "X3DH_INFO",
    "hkdf_sha256",
    "kdf_ck",
    "kdf_rk",
    "message_keys",
    "x3dh_kdf",
]

KEY_LEN = 32
NONCE_LEN = 12
X3DH_INFO = b"chatkernel/v1/x3dh"
ROOT_INFO = b"chatkernel/v1/ratchet-root"
MESSAGE_KEYS_INFO = b"chatkernel/v1/message-keys"

_SHA256 = hashes.SHA256()
_MESSAGE_KEY_SEED = b"\x01"
_CHAIN_KEY_SEED = b"\x02"
_X25519_PAD = b"\xff" * 32


def hkdf_sha256(ikm: bytes, *, salt: bytes | None, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256; ``salt=None`` means 32 zero bytes, as the RFC says."""
    return HKDF(algorithm=_SHA256, length=length, salt=salt, info=info).derive(ikm)


def x3dh_kdf(dh_outputs: Iterable[bytes], *, info: bytes = X3DH_INFO, length: int = KEY_LEN) -> bytes:
    """The X3DH secret from the DH outputs in protocol order (0xFF padding marks X25519)."""
    return hkdf_sha256(_X25519_PAD + b"".join(dh_outputs), salt=None, info=info, length=length)


def kdf_rk(root_key: bytes, dh_output: bytes, *, info: bytes = ROOT_INFO) -> tuple[bytes, bytes]:
    """One root-chain step: the new root key and a fresh chain key."""
    out = hkdf_sha256(dh_output, salt=root_key, info=info, length=2 * KEY_LEN)
    return out[:KEY_LEN], out[KEY_LEN:]


def _hmac(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, _SHA256)
    mac.update(data)
    return mac.finalize()


def kdf_ck(chain_key: bytes) -> tuple[bytes, bytes]:
    """One symmetric-chain step: ``(next chain key, message key)``."""
    return _hmac(chain_key, _CHAIN_KEY_SEED), _hmac(chain_key, _MESSAGE_KEY_SEED)


def message_keys(message_key: bytes, *, info: bytes = MESSAGE_KEYS_INFO) -> tuple[bytes, bytes]:
    """The AES-256-GCM ``(key, nonce)`` that one message key stands for."""
    out = hkdf_sha256(message_key, salt=None, info=info, length=KEY_LEN + NONCE_LEN)
    return out[:KEY_LEN], out[KEY_LEN:]
