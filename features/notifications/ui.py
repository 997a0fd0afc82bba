"""The notification center: the toast stack, the unread badge and browser notifications.

An anywidget whose front end (``toasts.js``, shipped beside this file: no CDN, works offline)
draws the stack from the synced ``toasts`` list, every string inserted as text. A click on a
toast, its close button and the permission answer come back as custom messages, each checked
here before anything is done with it (as is a toast's "Mute"), and go to the actor through :func:`chatkernel.fire`. A
new toast is also sent as a ``toast`` message so the page can raise a browser notification
(when permitted and ``desktop`` is on) and report whether it did. The widget follows the service
through ``watch`` and lets go on ``close``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from chatkernel import Actor, fire

from ._checks import check_id
from .errors import NotificationsError

__all__ = ["NotificationCenter"]

log = logging.getLogger("chatkernel.features.notifications.ui")

_PERMISSIONS = ("default", "granted", "denied", "unsupported")
_REFUSED_KEPT = 20


def _actor_of(source: Any) -> Actor:
    if isinstance(source, Actor):
        return source
    actors = getattr(source, "actors", None)
    if actors is not None and "notifications" in actors:
        return actors["notifications"]  # type: ignore[no-any-return]
    raise TypeError(f"NotificationCenter needs a booted App with the notifications feature, or its Actor; got "
                    f"{source!r}")


class _Refused(NotificationsError):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class NotificationCenter(anywidget.AnyWidget):
    """The toasts, the badge and the "Enable desktop notifications" button.

    ``refused`` lists why the last messages from the page were ignored (malformed ones).
    """

    _esm = Path(__file__).with_name("toasts.js")

    toasts = traitlets.List(traitlets.Dict()).tag(sync=True)
    unread = traitlets.Int(0).tag(sync=True)
    enabled = traitlets.Bool(True).tag(sync=True)
    desktop = traitlets.Bool(True).tag(sync=True)
    toast_seconds = traitlets.Float(6.0).tag(sync=True)
    ready = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    permission = traitlets.Unicode("default").tag(sync=True)  # what the page last reported

    def __init__(self, source: Any, **kwargs: Any):
        self.actor = _actor_of(source)
        self.service = self.actor.machine.service
        self.refused: list[str] = []
        super().__init__(**kwargs)
        self.on_msg(self._on_msg)
        self._stop_watching = self.service.watch(self._changed)
        self.refresh()

    # ------------------------------------------------------------------ service -> page
    def refresh(self) -> None:
        service = self.service
        config = service.config
        error = service.last_error
        with self.hold_sync():
            self.toasts = service.toasts()
            self.unread = service.unread_total
            self.enabled = config.enabled
            self.desktop = config.desktop
            self.toast_seconds = config.toast_seconds
            self.ready = service.ready
            self.error = f"{error['operation']}: {error['reason']}" if error else ""

    def _changed(self, kind: str, info: dict[str, Any]) -> None:
        self.refresh()
        toast = info.get("toast")
        if kind == "shown" and isinstance(toast, dict):
            self.send({"type": "toast", "toast": toast, "desktop": self.service.config.desktop})

    # ------------------------------------------------------------------ page -> actor
    def _on_msg(self, _widget: Any, content: Any, _buffers: Any = None) -> None:
        try:
            self.handle(content)
        except _Refused as exc:
            self.refused = [*self.refused[-(_REFUSED_KEPT - 1):], exc.reason]
            log.warning("message from the notification center ignored: %s", exc.reason)

    def handle(self, content: Any) -> None:
        """Act on one message from the page; a malformed one raises (and does nothing)."""
        if not isinstance(content, dict):
            raise _Refused(f"a message must be an object, got {type(content).__name__}")
        kind = content.get("type")
        if kind in ("dismiss", "click"):
            toast_id = self._toast_id(content, required=kind == "click")
            if kind == "click":
                fire(self.actor, "CLICK", id=toast_id)
            else:
                fire(self.actor, "DISMISS", id=toast_id)
        elif kind in ("mute", "unmute"):
            try:
                conversation = check_id("conversation", content.get("conversation"))
            except NotificationsError as exc:
                raise _Refused(f"{kind}: {exc}") from None
            fire(self.actor, kind.upper(), conversation=conversation)
        elif kind == "desktop":
            shown = content.get("shown")
            if not isinstance(shown, bool):
                raise _Refused(f"desktop: 'shown' must be true or false, got {type(shown).__name__}")
            self.service.desktop_delivered(shown, self._toast_id(content, required=False))
        elif kind == "permission":
            permission = content.get("permission")
            if permission not in _PERMISSIONS or not isinstance(permission, str):
                raise _Refused(f"permission: {permission!r} is not one of {', '.join(_PERMISSIONS)}")
            self.permission = permission
        else:
            raise _Refused(f"unknown message type {str(kind)[:40]!r}")

    def _toast_id(self, content: dict[str, Any], *, required: bool) -> str | None:
        value = content.get("id")
        if value is None and not required:
            return None
        try:
            return check_id("toast id", value)
        except NotificationsError as exc:
            raise _Refused(f"{content.get('type')}: {exc}") from None

    # ------------------------------------------------------------------ actions (also for notebooks)
    def dismiss(self, toast_id: str | None = None) -> None:
        fire(self.actor, "DISMISS", id=toast_id)

    def click(self, toast_id: str) -> None:
        fire(self.actor, "CLICK", id=toast_id)

    def mute(self, conversation: str) -> None:
        fire(self.actor, "MUTE", conversation=conversation)

    def unmute(self, conversation: str) -> None:
        fire(self.actor, "UNMUTE", conversation=conversation)

    def close(self) -> None:
        stop = self.__dict__.pop("_stop_watching", None)
        if stop is not None:
            stop()
        super().close()

    def __repr__(self) -> str:
        return f"NotificationCenter(toasts={len(self.toasts)}, unread={self.unread}, enabled={self.enabled})"
