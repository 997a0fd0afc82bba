"""The auth feature's communication contract: what it says.

No payload carries a passphrase, a key, a verifier or a salt. ``profile`` is the local profile
name; ``user_id`` is the identity's public id (``chatkernel.relay.protocol.derive_user_id``).

``reason`` in AUTH_FAILED: ``wrong_passphrase`` (counted), ``throttled`` (tried before
``retry_after_s`` had passed; nothing was tried), ``invalid_passphrase`` (a new passphrase broke
the policy), ``invalid_profile`` (a name the rules refuse), ``profile_exists`` (sign-up to a profile
that exists: nothing was touched), ``unknown_profile`` (log-in to a profile this machine does not
have), ``damaged_record`` (the profile's ``auth.json`` cannot be read; it is left as it is),
``storage_error`` (the database would not open), ``identity_error`` (the identity could not be made
or loaded). A login while a profile is unlocked is refused by the service without an event
(``SessionStateError``: log out first). The delay only rises (to 30 s); it never locks a profile out for good.
``retry_after_s`` is 0.0 when the next try may come at once.
``reason`` in AUTH_LOGOUT: ``user`` (asked for), ``timeout`` (session idle past
``session_timeout_s``), ``shutdown`` (the app or the feature stopped).
"""

from __future__ import annotations

from typing import Literal

from chatkernel import EventSpec

__all__ = ["AUTH_FAILED", "AUTH_LOGOUT", "AUTH_SUCCESS", "EMITTED", "FAILURE_REASONS", "LOGOUT_REASONS"]

FAILURE_REASONS = ("wrong_passphrase", "throttled", "invalid_passphrase", "invalid_profile", "profile_exists",
                   "unknown_profile", "damaged_record", "storage_error", "identity_error")
LOGOUT_REASONS = ("user", "timeout", "shutdown")

AUTH_SUCCESS = EventSpec("AUTH_SUCCESS", "HIGH", "a profile was unlocked with its passphrase or remembered key",
                         {"profile": str, "user_id": str})
AUTH_FAILED = EventSpec("AUTH_FAILED", "HIGH", "a login was refused; the next try may come after retry_after_s",
                        {"profile": str, "reason": Literal[FAILURE_REASONS], "retry_after_s": float})
AUTH_LOGOUT = EventSpec("AUTH_LOGOUT", "HIGH", "the session ended and the keys were dropped from memory",
                        {"profile": str, "reason": Literal[LOGOUT_REASONS]})

EMITTED = (AUTH_SUCCESS, AUTH_FAILED, AUTH_LOGOUT)
