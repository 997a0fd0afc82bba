"""Signaling: this user's session with a relay, the long-poll loop and the outbox.

Dispatches ``MESSAGE_RECEIVED`` (HIGH) for every message the relay delivers and sends messages
with idempotent ids, retried until the relay accepts them, across reconnects and relay switches.
Its service also reaches the relay's key directory (``upload_keys``, ``fetch_bundle``; see
``SignalingService``) and says ``PREKEY_COUNT`` (LOW) after each upload.
"""

from chatkernel import Feature

from . import events as _events
from ._config import SignalingConfig as _SignalingConfig
from ._mount import mount as _mount
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="signaling",
    name="Signaling",
    version="1.0.0",
    description="Relay session, long poll, idempotent sends, key directory",
    on_mount=_mount,
    on_unmount=_unmount,
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    settings=_SignalingConfig(),
)
