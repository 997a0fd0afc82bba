"""Identity: who the local user is (keys, user id, display name), their contacts' pinned keys,
safety numbers, invite strings and trust on first use.

The private keys live in the profile's encrypted database (the persistence feature) and in the
service's memory while logged in; nothing else sees them. The auth feature calls
``await service.create(name)`` at sign-up and ``await service.load()`` at log-in; crypto and
signaling sign and exchange through the service. ``api.py`` holds the Protocol a dependent
copies into its own folder. The pure parts are private modules: ``_safety`` (libsignal's
60-digit safety number), ``_record`` (the identity record), ``_invite`` (invite strings and the
bundle check), ``_qr`` (an invite as SVG), ``_trust`` (a contact's pinned key), ``_contact``
(a contact as stored).

User ids are derived from the public keys, so other keys presented for a known contact are never
theirs: ``KEY_CHANGED`` blocks sending until the user dismisses the alert, and nothing re-pins
such keys. A new key means a new user id (a new contact, from a new invite); signed key-rotation
records are not implemented.
"""

from chatkernel import Feature

from . import events as _events
from ._api import PersistenceAPI as _PersistenceAPI
from ._config import IdentityConfig as _IdentityConfig
from ._mount import identity_card as _identity_card
from ._mount import mount as _mount
from ._mount import safety_number_view as _safety_number_view
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="identity",
    name="Identity",
    version="1.0.0",
    description="The local identity's keys, pinned contacts, invites and safety numbers",
    on_mount=_mount,
    on_unmount=_unmount,
    dependencies=["persistence"],
    requires={"persistence": _PersistenceAPI},
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"IdentityCard": _identity_card, "SafetyNumberView": _safety_number_view},
    settings=_IdentityConfig(),
)
