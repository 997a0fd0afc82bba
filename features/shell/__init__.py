"""The shell: the app's window, built from the ``ui`` declarations of the mounted features.

It routes between the login, the chats, the contacts, the groups, the settings and the explorer,
follows AUTH_SUCCESS / AUTH_LOGOUT, always shows who is signed in and whether the relay is
reachable, docks in JupyterLab (a main-area tab or the right sidebar, with ipylab) and adds "Open
chat" and "Open explorer" to the command palette. Nothing is registered or computed at import.
"""

from chatkernel import Feature

from . import events as _events
from ._config import ShellConfig as _ShellConfig
from ._mount import app_window as _app_window
from ._mount import mount as _mount
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="shell",
    name="Shell",
    version="1.0.0",
    description="The app's window: routes, profile, connection state, docking and the command palette",
    on_mount=_mount,
    on_unmount=_unmount,
    subscribed_events=_events.SUBSCRIBED,
    emitted_events=_events.EMITTED,
    ui={"AppWindow": _app_window},
    settings=_ShellConfig(),
)
