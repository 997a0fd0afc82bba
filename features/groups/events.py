"""The groups feature's communication contract: what it says and what it hears.

Payloads carry group ids, the names people gave and what changed: never a message body, never
a key (messaging carries those, sealed).

Emitted
    GROUP_CREATED    we created a group (MEDIUM)
    GROUP_UPDATED    a group we are in changed: we were invited into it (``joined``), it was
                     renamed, or its members changed (MEDIUM)
    GROUP_LEFT       we left a group, or its admin removed us: it stays in the list, read-only
                     (MEDIUM)
    GROUP_SELECTED   the user picked a group: the chat opens that conversation (MEDIUM)

Each of the first three follows messaging's GROUP_CHANGED, whoever caused it (this panel, a
notebook calling messaging, another member), so it is said once per change.

Heard
    IDENTITY_LOADED / IDENTITY_CREATED       read the groups of the loaded identity
    IDENTITY_FORGOTTEN / PERSISTENCE_LOCKED  forget them (log-out, lock)
    GROUP_CHANGED                            messaging changed a group: read it again
    CONTACT_ADDED / CONTACT_RENAMED / CONTACT_BLOCKED / CONTACT_REMOVED  members' names: redraw

Commands the groups actor accepts (``fire(actor, ...)`` from UI code): CREATE {name, members},
RENAME {group, name}, INVITE {group, members}, REMOVE {group, member}, LEAVE / SELECT {group}.
"""

from __future__ import annotations

from typing import Literal

from chatkernel import EventSpec

__all__ = ["EMITTED", "GROUP_CREATED", "GROUP_LEFT", "GROUP_SELECTED", "GROUP_UPDATED", "SUBSCRIBED"]

GROUP_CREATED = EventSpec("GROUP_CREATED", "MEDIUM", "we created a group", {"group": str, "name": str})
GROUP_UPDATED = EventSpec("GROUP_UPDATED", "MEDIUM", "a group we are in was joined, renamed or its members changed",
                          {"group": str, "change": Literal["joined", "renamed", "members"]})
GROUP_LEFT = EventSpec("GROUP_LEFT", "MEDIUM", "we left a group or were removed from it (it is read-only now)",
                       {"group": str})
GROUP_SELECTED = EventSpec("GROUP_SELECTED", "MEDIUM", "the user picked a group (open its conversation)",
                           {"group": str})

EMITTED = (GROUP_CREATED, GROUP_UPDATED, GROUP_LEFT, GROUP_SELECTED)
SUBSCRIBED: tuple[str, ...] = ("IDENTITY_LOADED", "IDENTITY_CREATED", "IDENTITY_FORGOTTEN", "PERSISTENCE_LOCKED",
                               "GROUP_CHANGED", "CONTACT_ADDED", "CONTACT_RENAMED", "CONTACT_BLOCKED",
                               "CONTACT_REMOVED")
