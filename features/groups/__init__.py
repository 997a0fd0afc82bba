"""Groups: named conversations with several contacts, the product layer over messaging's groups.

Messaging carries a group (sender keys, membership messages, the admin's rights) and keeps its
record; this feature is what the user works with: it checks every input before messaging sees
it (a member must be a contact, and not a blocked one), names the members as the contact list
does (ourselves as "You"), follows GROUP_CHANGED so every open list stays current, and opens a
group in the chat (GROUP_SELECTED). It stores nothing itself. Nothing is registered or computed
at import.
"""

from chatkernel import Feature

from . import events as _events
from ._api import ContactsAPI as _ContactsAPI
from ._api import IdentityAPI as _IdentityAPI
from ._api import MessagingAPI as _MessagingAPI
from ._config import GroupsConfig as _GroupsConfig
from ._mount import groups_panel as _groups_panel
from ._mount import mount as _mount
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="groups",
    name="Groups",
    version="1.0.0",
    description="Group conversations: create, rename, invite, remove, leave, open in the chat",
    on_mount=_mount,
    on_unmount=_unmount,
    dependencies=["identity", "contacts", "messaging"],
    requires={"identity": _IdentityAPI, "contacts": _ContactsAPI, "messaging": _MessagingAPI},
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"GroupsPanel": _groups_panel},
    settings=_GroupsConfig(),
)
