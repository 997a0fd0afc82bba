"""The shell feature's configuration: the one place its defaults are written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ShellConfig"]


@dataclass(frozen=True)
class ShellConfig:
    """``theme``: ``auto`` follows JupyterLab's theme (every colour is one of its CSS
    variables); ``light`` or ``dark`` sets those variables inside the window alone.
    ``home``: the view shown after signing in."""

    theme: Literal["auto", "light", "dark"] = "auto"
    home: Literal["chats", "contacts", "groups", "settings", "explorer"] = "chats"
