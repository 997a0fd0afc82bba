"""Signaling: this user's session with a relay, the long-poll loop and the outbox.

It connects as the loaded identity (the identity feature signs the ``/connect`` proof; signaling
holds no private key), once ``IDENTITY_LOADED`` or ``IDENTITY_CREATED`` says there is one, and
disconnects at ``IDENTITY_FORGOTTEN`` (log-out).

Dispatches ``RELAY_MESSAGE_RECEIVED`` (HIGH) for every message the relay delivers and sends messages
with idempotent ids, retried until the relay accepts them, across reconnects, relay switches and
kernel restarts: the cursor, the seen relay ids and the outbox live in the profile database
(persistence), and a consumer that stores messages can have each kept until its own transaction
acknowledges it.
Its service also reaches the relay's key directory (``upload_keys``, ``fetch_bundle``; see
``SignalingService``) and says ``PREKEY_COUNT`` (LOW) after each upload.
"""

from chatkernel import Feature

from . import events as _events
from ._api import IdentityAPI as _IdentityAPI
from ._api import PersistenceAPI as _PersistenceAPI
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
    dependencies=["persistence", "identity"],
    requires={"persistence": _PersistenceAPI, "identity": _IdentityAPI},
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    settings=_SignalingConfig(),
)
