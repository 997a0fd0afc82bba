"""The crypto feature's communication contract: what it says and hears.

No payload carries a key, a ciphertext, a plaintext or a session state: only user ids, group
ids, counts and the short code of a refusal (``reason``: ``authentication``, ``duplicate``,
``replayed_prekey``, ``unknown_prekey``, ``no_session``, ``malformed``, ``identity_changed``,
``identity_mismatch``, ``unknown_sender_key``, ``forged``, ``too_many_skipped``, ...).

Heard
    PERSISTENCE_OPENED / PERSISTENCE_LOCKED (persistence), IDENTITY_LOADED / IDENTITY_CREATED /
    IDENTITY_FORGOTTEN (identity): the machine goes ready (database open and identity loaded) or
    locked.
"""

from __future__ import annotations

from typing import Literal, NotRequired

from chatkernel import EventSpec

__all__ = ["CRYPTO_SESSION_STARTED", "DECRYPTION_FAILED", "EMITTED", "PREKEYS_LOW", "SUBSCRIBED"]

CRYPTO_SESSION_STARTED = EventSpec(
    "CRYPTO_SESSION_STARTED", "MEDIUM", "a pairwise session with a peer was committed (X3DH done)",
    {"peer": str, "role": Literal["initiator", "responder"], "one_time_prekey": bool})
PREKEYS_LOW = EventSpec(
    "PREKEYS_LOW", "MEDIUM", "the relay holds fewer one-time prekeys than refill_below: upload more",
    {"remaining": int, "refill_below": int})
DECRYPTION_FAILED = EventSpec(
    "DECRYPTION_FAILED", "MEDIUM", "an envelope was refused; no state changed",
    {"peer": str, "reason": str, "group": NotRequired[str]})

EMITTED = (CRYPTO_SESSION_STARTED, PREKEYS_LOW, DECRYPTION_FAILED)
SUBSCRIBED = ("PERSISTENCE_OPENED", "PERSISTENCE_LOCKED", "IDENTITY_LOADED", "IDENTITY_CREATED", "IDENTITY_FORGOTTEN")
