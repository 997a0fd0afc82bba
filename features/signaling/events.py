"""The signaling feature's communication contract: what it says and what it hears.

Heard
    APP_READY               connect if a URL is known, an identity is loaded and auto_connect is on
    IDENTITY_LOADED,        an identity is loaded (log-in, sign-up): connect if auto_connect is on
    IDENTITY_CREATED        or a CONNECT is waiting for one (state ``waiting_for_identity``);
                            declared by identity
    IDENTITY_FORGOTTEN      log-out: disconnect (POST /disconnect, the token is dropped), fail the
                            queued sends and stay disconnected until an identity is loaded again
    SIGNALING_URL_CHANGED   switch relays (reconnect if connected); declared by settings, whose
                            ``allow_insecure_remote`` flag it carries
    RELAY_SEND_REQUESTED  ``{to, payload, id?}``: queue a send (an idempotent id is made if
                            missing); declared by whichever feature sends through signaling
"""

from __future__ import annotations

from typing import Any

from chatkernel import EventSpec

__all__ = [
    "CONNECTION_LOST",
    "EMITTED",
    "PREKEY_COUNT",
    "RELAY_MESSAGE_RECEIVED",
    "RELAY_MESSAGE_SENT",
    "RELAY_SEND_FAILED",
    "SIGNALING_CONNECTED",
    "SIGNALING_DISCONNECTED",
    "SIGNALING_URL_REJECTED",
    "SUBSCRIBED",
]

SIGNALING_CONNECTED = EventSpec("SIGNALING_CONNECTED", "MEDIUM", "a session with the relay is open",
                                {"url": str, "user_id": str})
SIGNALING_DISCONNECTED = EventSpec("SIGNALING_DISCONNECTED", "MEDIUM", "the session was closed (on request or unmount)",
                                   {"url": str | None, "reason": str | None})
CONNECTION_LOST = EventSpec("CONNECTION_LOST", "HIGH", "the session failed; the next try is in retry_in_s seconds",
                            {"url": str | None, "reason": str | None, "retry_in_s": float, "attempt": int})
SIGNALING_URL_REJECTED = EventSpec("SIGNALING_URL_REJECTED", "HIGH", "a relay URL was refused; the old one is kept",
                                   {"url": str | None, "reason": str})
RELAY_MESSAGE_RECEIVED = EventSpec(
    "RELAY_MESSAGE_RECEIVED", "HIGH", "the relay delivered a message (one event per relay message, deduplicated)",
    {"relay_id": str, "sender": str, "ts": int, "payload": Any})
RELAY_MESSAGE_SENT = EventSpec("RELAY_MESSAGE_SENT", "MEDIUM", "the relay accepted a message",
                         {"id": str, "to": str, "relay_id": str | None, "duplicate": bool})
RELAY_SEND_FAILED = EventSpec("RELAY_SEND_FAILED", "HIGH", "a message was refused for good and will not be retried",
                                {"id": str | None, "to": str | None, "reason": str})
PREKEY_COUNT = EventSpec(
    "PREKEY_COUNT", "LOW", "the relay answered a key upload: one-time prekeys left for others to fetch",
    {"remaining": int, "accepted": int, "signed_prekey_id": int | None})

EMITTED = (SIGNALING_CONNECTED, SIGNALING_DISCONNECTED, CONNECTION_LOST, SIGNALING_URL_REJECTED,
           RELAY_MESSAGE_RECEIVED, RELAY_MESSAGE_SENT, RELAY_SEND_FAILED, PREKEY_COUNT)
SUBSCRIBED = ("APP_READY", "SIGNALING_URL_CHANGED", "RELAY_SEND_REQUESTED", "IDENTITY_LOADED", "IDENTITY_CREATED",
              "IDENTITY_FORGOTTEN")
