"""Notifications: a toast for a message in a conversation that is not open, unread badges, mute.

A message the chat received becomes a toast (title, author, a plain-text preview) unless its
conversation is open, muted, or notifications are switched off (the settings' global switch,
live); the stack is bounded and each toast goes after ``toast_seconds``. Mutes are kept per
profile in its database. ``NotificationCenter`` (an anywidget) shows the stack and the unread
badge and raises browser notifications when the page allows it. Nothing is registered or
computed at import.
"""

from chatkernel import Feature

from . import events as _events
from ._api import ChatAPI as _ChatAPI
from ._api import PersistenceAPI as _PersistenceAPI
from ._config import NotificationsConfig as _NotificationsConfig
from ._mount import mount as _mount
from ._mount import notification_center as _notification_center
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="notifications",
    name="Notifications",
    version="1.0.0",
    description="Toasts for messages in conversations that are not open, unread badge, mute, desktop notifications",
    on_mount=_mount,
    on_unmount=_unmount,
    dependencies=["persistence", "chat"],
    requires={"persistence": _PersistenceAPI, "chat": _ChatAPI},
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"NotificationCenter": _notification_center},
    settings=_NotificationsConfig(),
)
