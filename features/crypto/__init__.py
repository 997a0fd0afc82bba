"""Crypto: X3DH session setup, the Double Ratchet and Sender-Key groups, built only on
``cryptography``, with prekeys and sessions kept in the profile database (persistence).

The protocol core lives in private modules (``_x3dh``, ``_ratchet``, ``_envelope``,
``_sender_keys``, ``_state``, ``_kdf``, ``_keys``); ``_directory`` speaks the relay's key
directory JSON; ``service`` commits each ratchet step in one transaction with the caller's rows.
Nothing is registered or computed at import.
"""

from chatkernel import Feature

from . import events as _events
from ._api import IdentityAPI as _IdentityAPI
from ._api import PersistenceAPI as _PersistenceAPI
from ._config import CryptoConfig as _CryptoConfig
from ._mount import mount as _mount
from ._mount import status_panel as _status_panel
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="crypto",
    name="Crypto",
    version="1.0.0",
    description="End-to-end encryption: prekeys, X3DH, Double Ratchet sessions and Sender-Key groups",
    on_mount=_mount,
    on_unmount=_unmount,
    dependencies=["persistence", "identity"],
    requires={"persistence": _PersistenceAPI, "identity": _IdentityAPI},
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"CryptoStatus": _status_panel},
    settings=_CryptoConfig(),
)
