"""Chat: conversations with contacts and in groups, one actor per conversation, on messaging's
sealed delivery.

Each message moves queued -> sent -> delivered -> read (or failed, then retry), driven by the
relay's answer and the peer's encrypted receipts; history is paged from the profile database;
edits and deletions reach every side; typing is said, never stored. A group's conversation (its
id ``group:<32 hex>``, made by messaging) shows each message under its author, ticks once every
member's receipt says so, and is read-only once we left it or were removed. What could not be
sealed yet (offline, a changed key) is kept and sent once. Nothing is registered or computed at
import.
"""

from chatkernel import Feature

from . import events as _events
from ._api import ContactsAPI as _ContactsAPI
from ._api import IdentityAPI as _IdentityAPI
from ._api import MessagingAPI as _MessagingAPI
from ._api import PersistenceAPI as _PersistenceAPI
from ._config import ChatConfig as _ChatConfig
from ._mount import chat_window as _chat_window
from ._mount import mount as _mount
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="chat",
    name="Chat",
    version="1.0.0",
    description="Conversations with contacts and groups: receipts, paged history, edits, replies, typing, "
                "search, export",
    on_mount=_mount,
    on_unmount=_unmount,
    dependencies=["persistence", "identity", "contacts", "messaging"],
    requires={"persistence": _PersistenceAPI, "identity": _IdentityAPI, "contacts": _ContactsAPI,
              "messaging": _MessagingAPI},
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"ChatWindow": _chat_window},
    settings=_ChatConfig(),
)
