"""What the app's window shows around the features' own views: where the user is (the route),
who is signed in, whether the relay is reachable, and how much is unread.

The window itself is built from the ``ui`` declarations of the mounted features
(:mod:`features.shell.ui`); this service is the state it draws, kept from the bus, so a window
opened late (or twice, or after re-running a cell) shows the same thing at once::

    shell.navigate("contacts")        # SHELL_NAVIGATED; refused while signed out
    shell.connection                  # {"state": "reconnecting", "retry_in_s": 2.0, ...}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from . import events as ev
from ._config import ShellConfig
from .errors import SignedOutError, UnknownRouteError

__all__ = ["ShellService"]

Emit = Callable[..., Any]
Listener = Callable[[str, dict[str, Any]], None]


class ShellService:
    def __init__(self, config: ShellConfig | None = None, emit: Emit | None = None, *,
                 logger: logging.Logger | None = None, clock: Callable[[], float] = time.monotonic):
        self.config = config or ShellConfig()
        self._emit = emit
        self.log = logger or logging.getLogger("chatkernel.features.shell")
        self._clock = clock
        self.listener: Listener | None = None
        self.route = "login"
        self.profile: str | None = None
        self.user_id: str | None = None
        self.display_name: str | None = None
        self.connection: dict[str, Any] = {"state": "offline", "url": None, "reason": None, "retry_in_s": None,
                                           "attempt": 0, "since": clock()}
        self.unread: dict[str, int] = {}

    # ------------------------------------------------------------------ state
    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def unread_total(self) -> int:
        return sum(self.unread.values())

    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    def navigate(self, route: object) -> str:
        """Show ``route``; the route shown (SHELL_NAVIGATED when it changed)."""
        if not isinstance(route, str) or route not in ev.ROUTES:
            raise UnknownRouteError(route, ev.ROUTES)
        if route != "login" and not self.signed_in:
            raise SignedOutError(route)
        if route == "login" and self.signed_in:
            route = self.config.home
        if route != self.route:
            self.route = route
            if self._emit is not None:
                self._emit(ev.SHELL_NAVIGATED, {"route": route})
            self._notify("CHANGED")
        return route

    # ------------------------------------------------------------------ heard
    def signed_in_as(self, user_id: object, *, profile: object = None, display_name: object = None) -> None:
        if not isinstance(user_id, str):
            return
        first = self.user_id != user_id
        self.user_id = user_id
        if isinstance(profile, str):
            self.profile = profile
        if isinstance(display_name, str):
            self.display_name = display_name
        if first or self.route == "login":
            self.route = "login"  # so that navigate says it
            self.navigate(self.config.home)
        self._notify("CHANGED")

    def signed_out(self) -> None:
        self.user_id = self.profile = self.display_name = None
        self.unread.clear()
        if self.route != "login":
            self.route = "login"
            if self._emit is not None:
                self._emit(ev.SHELL_NAVIGATED, {"route": "login"})
        self._notify("CHANGED")

    def connected(self, url: object) -> None:
        self._connection("connected", url=url)

    def disconnected(self, url: object, reason: object) -> None:
        self._connection("offline", url=url, reason=reason)

    def lost(self, url: object, reason: object, retry_in_s: object, attempt: object) -> None:
        self._connection("reconnecting", url=url, reason=reason,
                         retry_in_s=float(retry_in_s) if isinstance(retry_in_s, (int, float)) else None,
                         attempt=attempt if isinstance(attempt, int) else 0)

    def _connection(self, state: str, **info: Any) -> None:
        self.connection = {"state": state, "url": None, "reason": None, "retry_in_s": None, "attempt": 0,
                           **{k: v for k, v in info.items() if v is not None}, "since": self._clock()}
        self._notify("CHANGED")

    def unread_changed(self, conversation: object, unread: object) -> None:
        if isinstance(conversation, str) and isinstance(unread, int) and not isinstance(unread, bool):
            if unread > 0:
                self.unread[conversation] = unread
            else:
                self.unread.pop(conversation, None)
            self._notify("CHANGED")

    # ------------------------------------------------------------------ words for the window
    def connection_text(self) -> str:
        """``connected``, ``reconnecting: next try in 3 s (try 2): why``, or ``offline``."""
        c = self.connection
        if c["state"] == "connected":
            return f"connected to {c['url']}" if c["url"] else "connected"
        if c["state"] == "reconnecting":
            left = None
            if c["retry_in_s"] is not None:
                left = max(0.0, c["retry_in_s"] - (self._clock() - c["since"]))
            when = f"next try in {left:.0f} s" if left is not None else "trying again"
            why = f": {c['reason']}" if c["reason"] else ""
            return f"reconnecting, {when} (try {c['attempt'] + 1}){why}"
        return f"offline{': ' + str(c['reason']) if c['reason'] else ''}"

    def __repr__(self) -> str:
        return (f"ShellService(route={self.route!r}, signed_in={self.signed_in}, "
                f"connection={self.connection['state']!r}, unread={self.unread_total})")
