"""Messaging: end-to-end encrypted delivery between identities, built on crypto (sealing),
signaling (the relay) and persistence (the profile database).

A send seals the message, stores it and queues it in one transaction; a received envelope is
opened, stored and acknowledged in one; prekeys are published at every connection and refilled
when a peer used one. What the chat and groups features build their conversations on.
Nothing is registered or computed at import.
"""

from chatkernel import Feature

from . import events as _events
from ._api import CryptoAPI as _CryptoAPI
from ._api import IdentityAPI as _IdentityAPI
from ._api import PersistenceAPI as _PersistenceAPI
from ._api import SignalingAPI as _SignalingAPI
from ._config import MessagingConfig as _MessagingConfig
from ._mount import mount as _mount
from ._mount import status_panel as _status_panel
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="messaging",
    name="Messaging",
    version="1.0.0",
    description="End-to-end encrypted delivery: seal, store and send; open, store and acknowledge",
    on_mount=_mount,
    on_unmount=_unmount,
    dependencies=["persistence", "identity", "crypto", "signaling"],
    requires={"persistence": _PersistenceAPI, "identity": _IdentityAPI, "crypto": _CryptoAPI,
              "signaling": _SignalingAPI},
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"MessagingStatus": _status_panel},
    settings=_MessagingConfig(),
)
