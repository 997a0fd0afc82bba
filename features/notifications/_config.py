"""The notifications feature's configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NotificationsConfig"]


@dataclass(frozen=True)
class NotificationsConfig:
    """``enabled``: the global switch (the settings feature's ``notifications`` switch sets it live).
    ``desktop``: also raise a browser notification for each toast, when the page is allowed to.
    ``show_preview``: the message text in the toast, else "New message". ``toast_seconds``: how long
    a toast stays on screen. ``max_toasts``: how many stay stacked (the oldest goes first)."""

    enabled: bool = True
    desktop: bool = True
    show_preview: bool = True
    toast_seconds: float = 6.0
    max_toasts: int = 5
