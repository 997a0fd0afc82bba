"""The shell feature's communication contract: what it says and what it hears.

Emitted
    SHELL_NAVIGATED   the window shows another view (``route``); MEDIUM

Heard
    AUTH_SUCCESS / AUTH_LOGOUT      signed in (go to the chats) / out (back to the login)
    IDENTITY_LOADED / IDENTITY_CREATED / IDENTITY_FORGOTTEN  the profile shown (a profile
                                    opened without auth, as in a notebook, counts as signed in)
    SIGNALING_CONNECTED / SIGNALING_DISCONNECTED / CONNECTION_LOST  the connection state shown
    CONTACT_SELECTED / GROUP_SELECTED / NOTIFICATION_CLICKED   show the chats (the chat opens the
                                    conversation)
    UNREAD_CHANGED                  the unread badge

Commands the shell actor accepts (``fire(actor, ...)`` from UI code): NAVIGATE {route}.
"""

from __future__ import annotations

from typing import Literal

from chatkernel import EventSpec

__all__ = ["EMITTED", "ROUTES", "SHELL_NAVIGATED", "SUBSCRIBED"]

#: Every view the window can show; ``login`` is the only one while signed out.
ROUTES = ("login", "chats", "contacts", "groups", "settings", "explorer")

SHELL_NAVIGATED = EventSpec("SHELL_NAVIGATED", "MEDIUM", "the app's window shows another view",
                            {"route": Literal[ROUTES]})

EMITTED = (SHELL_NAVIGATED,)
SUBSCRIBED: tuple[str, ...] = (
    "AUTH_SUCCESS", "AUTH_LOGOUT", "IDENTITY_LOADED", "IDENTITY_CREATED", "IDENTITY_FORGOTTEN",
    "SIGNALING_CONNECTED", "SIGNALING_DISCONNECTED", "CONNECTION_LOST", "CONTACT_SELECTED", "GROUP_SELECTED",
    "NOTIFICATION_CLICKED", "UNREAD_CHANGED")
