"""Ratchet state as data, and its deterministic serialization.

The persistence feature writes a ratchet step and the message it protects in one
transaction, so the state must round-trip to bytes exactly: canonical JSON (sorted keys, no
spaces, base64 for bytes, skipped keys as a list in their insertion order, which is also the
eviction order). The same state always gives the same bytes. ``"v"`` is the format version;
an unknown version is refused rather than guessed at. The bytes hold private keys: the
persistence layer encrypts them at rest; ``repr()`` of the state shows none of them.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ._keys import short_hex
from .errors import StateFormatError

__all__ = ["Limits", "RatchetState", "STATE_VERSION", "SkippedKey"]

STATE_VERSION = 1

SkippedKey = tuple[bytes, int]  # (sender's ratchet public key, message number)


@dataclass(frozen=True)
class Limits:
    """DoS bounds. ``max_skip``: message keys one message may make us derive (libsignal allows
    25 000; a chat needs far fewer). ``max_skipped_keys``: skipped keys kept per session, the
    oldest evicted first (libsignal keeps 2 000). ``max_previous_chains``: old receiving chains
    remembered so a late replay is named a duplicate."""

    max_skip: int = 1000
    max_skipped_keys: int = 2000
    max_previous_chains: int = 5

    def __post_init__(self) -> None:
        if min(self.max_skip, self.max_skipped_keys, self.max_previous_chains) < 0:
            raise ValueError("limits must be non-negative")


@dataclass(repr=False, eq=False)
class RatchetState:
    """The Double Ratchet state of spec §3.2 plus the session's associated data."""

    ad: bytes
    dhs_private: bytes
    dhs_public: bytes
    rk: bytes
    dhr: bytes | None = None
    cks: bytes | None = None
    ckr: bytes | None = None
    ns: int = 0
    nr: int = 0
    pn: int = 0
    skipped: dict[SkippedKey, bytes] = field(default_factory=dict)
    previous_dhr: tuple[bytes, ...] = ()
    initial_header: bytes | None = None  # the initiator's X3DH header, resent until the peer answers

    def __repr__(self) -> str:
        dhr = "none" if self.dhr is None else short_hex(self.dhr) + "…"
        return (f"RatchetState(dhs={short_hex(self.dhs_public)}…, dhr={dhr}, ns={self.ns}, nr={self.nr}, "
                f"pn={self.pn}, skipped={len(self.skipped)}, secrets=<redacted>)")

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "v": STATE_VERSION,
            "ad": _b64(self.ad),
            "dhs": _b64(self.dhs_private),
            "dhs_pub": _b64(self.dhs_public),
            "rk": _b64(self.rk),
            "dhr": _b64(self.dhr),
            "cks": _b64(self.cks),
            "ckr": _b64(self.ckr),
            "ns": self.ns,
            "nr": self.nr,
            "pn": self.pn,
            "skipped": [[_b64(pub), n, _b64(mk)] for (pub, n), mk in self.skipped.items()],
            "prev": [_b64(pub) for pub in self.previous_dhr],
            "ih": _b64(self.initial_header),
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> RatchetState:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFormatError("not JSON") from exc
        if not isinstance(doc, dict):
            raise StateFormatError("not a JSON object")
        if doc.get("v") != STATE_VERSION:
            raise StateFormatError("unknown version", version=doc.get("v"))
        try:
            state = cls(
                ad=_unb64(doc["ad"]), dhs_private=_key(doc["dhs"]), dhs_public=_key(doc["dhs_pub"]),
                rk=_key(doc["rk"]), dhr=_opt_key(doc["dhr"]), cks=_opt_key(doc["cks"]),
                ckr=_opt_key(doc["ckr"]), ns=_count(doc["ns"]), nr=_count(doc["nr"]), pn=_count(doc["pn"]),
                skipped={(_key(pub), _count(n)): _key(mk) for pub, n, mk in doc["skipped"]},
                previous_dhr=tuple(_key(pub) for pub in doc["prev"]),
                initial_header=None if doc["ih"] is None else _unb64(doc["ih"]),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise StateFormatError(f"bad field ({type(exc).__name__})", version=STATE_VERSION) from exc
        if len(state.skipped) != len(doc["skipped"]):
            raise StateFormatError("repeated skipped key", version=STATE_VERSION)
        return state


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode("ascii")


def _unb64(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError("expected base64 text")
    return base64.b64decode(value, validate=True)


def _key(value: object) -> bytes:
    raw = _unb64(value)
    if len(raw) != 32:
        raise ValueError("a key must be 32 bytes")
    return raw


def _opt_key(value: object) -> bytes | None:
    return None if value is None else _key(value)


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
        raise ValueError("a counter must be an integer in [0, 2**32)")
    return value
