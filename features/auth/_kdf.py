"""Keys from a passphrase: Argon2id, then HKDF into a database key and a verifier.

``master = Argon2id(NFKC(passphrase), salt, m, t, p) -> 32 bytes``;
``db_key = HKDF-Expand(master, "chatkernel/auth/db-key/v1")`` (32 bytes, the persistence
feature's raw SQLCipher key) and ``verifier = HKDF-Expand(master, "chatkernel/auth/verifier/v1")``.
The verifier is stored in the profile's :class:`KdfRecord`, so a wrong passphrase is detected
(``hmac.compare_digest``) before the database is touched; the two outputs are independent, so
the stored verifier says nothing about the key. An attacker holding the record can test guesses
with it, at one Argon2id call each, exactly as with the database itself.

Parameters (:data:`DEFAULT_PARAMS`): m = 64 MiB, t = 3, p = 1. OWASP's Password Storage Cheat
Sheet sets the floor for Argon2id at m = 19 MiB, t = 2, p = 1 (:data:`OWASP_MINIMUM`), sized for
servers hashing many logins at once; a local unlock happens once per session, so this takes
RFC 9106's memory-constrained choice (64 MiB, t = 3), about 150-180 ms on the 2-core VM (3.4x the
floor's work). Lanes stay at 1: ``cryptography`` computes lanes one after another here (p = 4
measured 250 ms against 177 ms for p = 1), so more lanes would cost us time and an attacker nothing.
The record carries its parameters, so they can be raised later: :func:`needs_upgrade` says when
a stored record is below the current ones and :func:`upgraded_params` never lowers any of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from chatkernel.relay.protocol import b64url_decode, b64url_encode

from ._params import DEFAULT_PARAMS, OWASP_MINIMUM, KdfParams, needs_upgrade, upgraded_params
from ._passphrase import passphrase_bytes
from .errors import KdfRecordError

__all__ = ["DB_KEY_INFO", "DEFAULT_PARAMS", "DerivedKeys", "KEY_LEN", "KdfParams", "KdfRecord", "OWASP_MINIMUM",
           "SALT_LEN", "VERIFIER_INFO", "derive", "derive_async", "needs_upgrade", "new_record", "upgraded_params",
           "verify"]

KEY_LEN = 32
SALT_LEN = 16
DB_KEY_INFO = b"chatkernel/auth/db-key/v1"
VERIFIER_INFO = b"chatkernel/auth/verifier/v1"
_FORMAT = 1
_ALGORITHM = "argon2id"



class DerivedKeys:
    """The database key and the verifier; shown by neither ``repr`` nor pickle."""

    __slots__ = ("_db_key", "_verifier")

    def __init__(self, db_key: bytes, verifier: bytes) -> None:
        self._db_key = bytes(db_key)
        self._verifier = bytes(verifier)

    @property
    def db_key(self) -> bytes:
        """The 32-byte raw SQLCipher key: secret."""
        return self._db_key

    @property
    def verifier(self) -> bytes:
        return self._verifier

    def __repr__(self) -> str:
        return "DerivedKeys(db_key=<hidden>, verifier=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("DerivedKeys holds a database key and is not picklable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DerivedKeys) and hmac.compare_digest(self._db_key, other._db_key)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, repr=False)
class KdfRecord:
    """What a profile stores beside its database to derive and check its key: parameters, salt,
    verifier. Not secret in the way a key is, but the verifier lets guesses be tested offline, so
    ``repr`` shows the parameters and a salt fingerprint only."""

    params: KdfParams
    salt: bytes
    verifier: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.params, KdfParams):
            raise KdfRecordError(f"params must be KdfParams, not {type(self.params).__name__}")
        for name, size in (("salt", SALT_LEN), ("verifier", KEY_LEN)):
            value = getattr(self, name)
            if not isinstance(value, (bytes, bytearray)) or len(value) != size:
                raise KdfRecordError(f"{name} must be {size} bytes")
            object.__setattr__(self, name, bytes(value))

    @property
    def salt_id(self) -> str:
        """A short, non-secret tag of the salt: which record (and so which key) this is."""
        return hashlib.sha256(b"chatkernel/auth/salt-id/v1\x00" + self.salt).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"v": 1, "kdf": "argon2id", "m", "t", "p", "salt", "check"}`` (base64url)."""
        return {"v": _FORMAT, "kdf": _ALGORITHM, "m": self.params.memory_kib, "t": self.params.iterations,
                "p": self.params.lanes, "salt": b64url_encode(self.salt), "check": b64url_encode(self.verifier)}

    @classmethod
    def from_dict(cls, data: object) -> KdfRecord:
        """Read :meth:`to_dict`'s form, checking every field; :class:`KdfRecordError` otherwise."""
        if not isinstance(data, dict):
            raise KdfRecordError(f"expected a JSON object, got {type(data).__name__}")
        expected = {"v", "kdf", "m", "t", "p", "salt", "check"}
        if set(data) != expected:
            raise KdfRecordError(f"fields must be exactly {sorted(expected)}, got {sorted(map(str, data))}")
        if type(data["v"]) is not int or data["v"] != _FORMAT:
            raise KdfRecordError(f"format version {data['v']!r} is not {_FORMAT}")
        if data["kdf"] != _ALGORITHM:
            raise KdfRecordError(f"kdf {data['kdf']!r} is not {_ALGORITHM!r}")
        raw = {}
        for name in ("salt", "check"):
            try:
                raw[name] = b64url_decode(data[name])
            except (ValueError, TypeError) as exc:
                raise KdfRecordError(f"{name}: {exc}") from None
        return cls(KdfParams(data["m"], data["t"], data["p"]), raw["salt"], raw["check"])

    def __repr__(self) -> str:
        p = self.params
        return (f"KdfRecord(argon2id m={p.memory_kib} KiB t={p.iterations} p={p.lanes}, "
                f"salt_id={self.salt_id!r}, verifier hidden)")


def derive(passphrase: str, params: KdfParams, salt: bytes) -> DerivedKeys:
    """Blocking (about 150 ms at the default parameters): from a coroutine use :func:`derive_async`."""
    master = Argon2id(salt=bytes(salt), length=KEY_LEN, iterations=params.iterations, lanes=params.lanes,
                      memory_cost=params.memory_kib).derive(passphrase_bytes(passphrase))
    sha256 = hashes.SHA256()
    db_key = HKDFExpand(algorithm=sha256, length=KEY_LEN, info=DB_KEY_INFO).derive(master)
    verifier = HKDFExpand(algorithm=sha256, length=KEY_LEN, info=VERIFIER_INFO).derive(master)
    return DerivedKeys(db_key, verifier)


async def derive_async(passphrase: str, params: KdfParams, salt: bytes) -> DerivedKeys:
    """:func:`derive` in a worker thread, so the kernel's loop keeps serving while Argon2 runs."""
    passphrase_bytes(passphrase)  # refuse an unencodable passphrase here, not in the thread
    return await asyncio.to_thread(derive, passphrase, params, salt)


def new_record(passphrase: str, params: KdfParams = DEFAULT_PARAMS) -> tuple[KdfRecord, DerivedKeys]:
    """A fresh random salt, the keys it gives and the record that checks them. Blocking."""
    salt = secrets.token_bytes(SALT_LEN)
    keys = derive(passphrase, params, salt)
    return KdfRecord(params, salt, keys.verifier), keys


def verify(keys: DerivedKeys, record: KdfRecord) -> bool:
    """Constant-time: do these keys match the record's verifier?"""
    return hmac.compare_digest(keys.verifier, record.verifier)
