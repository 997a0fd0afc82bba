"""Contacts: the people this identity talks to, under the names the user gave them.

A contact is added from an invite (or its QR code's text); identity checks it and pins the keys
(trust on first use), and this feature keeps the list around the pins: names, blocked or not,
presence (a message seen within ``presence_window_s``) and the chat's unread counts. Verifying
compares the safety number the contact reads out with ours before identity marks the pin.
Nothing is registered or computed at import.
"""

from chatkernel import Feature

from . import events as _events
from ._api import IdentityAPI as _IdentityAPI
from ._api import PersistenceAPI as _PersistenceAPI
from ._config import ContactsConfig as _ContactsConfig
from ._mount import contacts_panel as _contacts_panel
from ._mount import mount as _mount
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="contacts",
    name="Contacts",
    version="1.0.0",
    description="The contact list: add from invites, names, verify, block, presence, unread counts",
    on_mount=_mount,
    on_unmount=_unmount,
    dependencies=["persistence", "identity"],
    requires={"persistence": _PersistenceAPI, "identity": _IdentityAPI},
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"ContactsPanel": _contacts_panel},
    settings=_ContactsConfig(),
)
