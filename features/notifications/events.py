"""The notifications feature's communication contract: what it says and what it hears.

Payloads carry conversation ids and message ids only: never a title, an author or a body.

Emitted
    NOTIFICATION_SHOWN    a toast was put on the stack for a message (``desktop``: a browser
                          notification was raised with it; the toast is announced when it is
                          created, before any page could raise one, so this is False and desktop
                          delivery is counted in the service's stats) (LOW)
    CONVERSATION_MUTED    a conversation was muted or unmuted (``muted``) (MEDIUM)
    NOTIFICATION_CLICKED  the user clicked a toast: the chat opens that conversation (MEDIUM)

Heard
    MESSAGE_RECEIVED          chat: a message arrived; a toast unless its conversation is open, it
                              is muted or notifications are switched off (stats count why not)
    CONVERSATION_OPENED / CONVERSATION_CLOSED   chat: its window shows (or stopped showing) a
                              conversation; opening one clears its toasts
    UNREAD_CHANGED            chat: the unread count of a conversation (the badge)
    IDENTITY_LOADED / IDENTITY_CREATED          read the mutes of the loaded identity
    IDENTITY_FORGOTTEN / PERSISTENCE_LOCKED     forget mutes, toasts and counts (log-out, lock)
    SETTINGS_LOADED / SETTINGS_CHANGED          settings: the global ``notifications`` switch, live

Commands the notifications actor accepts (``fire(actor, ...)`` from UI code): MUTE / UNMUTE
{conversation}, DISMISS {id} (no id: every toast), CLICK {id}.
"""

from __future__ import annotations

from chatkernel import EventSpec

__all__ = ["CONVERSATION_MUTED", "EMITTED", "NOTIFICATION_CLICKED", "NOTIFICATION_SHOWN", "SUBSCRIBED"]

NOTIFICATION_SHOWN = EventSpec("NOTIFICATION_SHOWN", "LOW", "a toast was shown for a message in a conversation",
                               {"conversation": str, "id": str, "desktop": bool})
CONVERSATION_MUTED = EventSpec("CONVERSATION_MUTED", "MEDIUM", "a conversation was muted or unmuted",
                               {"conversation": str, "muted": bool})
NOTIFICATION_CLICKED = EventSpec("NOTIFICATION_CLICKED", "MEDIUM",
                                 "the user clicked a toast (open its conversation)", {"conversation": str})

EMITTED = (NOTIFICATION_SHOWN, CONVERSATION_MUTED, NOTIFICATION_CLICKED)
SUBSCRIBED: tuple[str, ...] = ("MESSAGE_RECEIVED", "CONVERSATION_OPENED", "CONVERSATION_CLOSED", "UNREAD_CHANGED",
                               "IDENTITY_LOADED", "IDENTITY_CREATED", "IDENTITY_FORGOTTEN", "PERSISTENCE_LOCKED",
                               "SETTINGS_LOADED", "SETTINGS_CHANGED")
