"""The identity feature's communication contract: what it says.

Emitted
    KEY_CHANGED   a contact's key differs from the pinned one; sending to them is blocked until
                  the user accepts the new key. Fingerprints are hex SHA-256 of public keys:
                  nothing secret travels on the bus.
"""

from __future__ import annotations

from chatkernel import EventSpec

__all__ = ["EMITTED", "KEY_CHANGED"]

KEY_CHANGED = EventSpec(
    "KEY_CHANGED", "HIGH", "a contact's identity key changed; sending to them is blocked until the user accepts it",
    {"user_id": str, "old_fingerprint": str, "new_fingerprint": str})
EMITTED = (KEY_CHANGED,)
