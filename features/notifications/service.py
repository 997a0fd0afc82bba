"""Toasts, mutes and the unread badge: which message becomes a toast, and what the stack holds.

A message the chat received (``MESSAGE_RECEIVED``) becomes a toast unless its conversation is
open, muted, or notifications are switched off; each refusal is counted in :meth:`stats` with
its reason. The chat gives the toast's title, author and plain-text preview; without a preview
(switched off, or the chat could not give one) the toast says "New message"::

    await notifications.mute("group:ab12")          # stored in the profile; idempotent
    notifications.toasts()                          # [{conversation, id, title, author, text, at}]
    notifications.click(toast_id)                   # NOTIFICATION_CLICKED: chat opens it
    notifications.configure(show_preview=False)     # live, like the settings' global switch

Logs, events, errors and ``repr`` name conversations and message ids only, never a body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from . import events as ev
from ._api import ChatAPI, PersistenceAPI
from ._checks import NEW_MESSAGE, check_config, check_id, preview_of
from ._config import NotificationsConfig
from .errors import InvalidArgumentError, NotReadyError, UnknownToastError

__all__ = ["NotificationsService", "SUPPRESSED_REASONS"]

Emit = Callable[..., Any]
Listener = Callable[[str, dict[str, Any]], None]
Observer = Callable[[str, dict[str, Any]], None]

#: why a message did not become a toast (keys of ``stats()["suppressed"]``)
SUPPRESSED_REASONS = ("open", "muted", "disabled", "duplicate", "locked")


def _ms() -> int:
    return int(time.time() * 1000)


class NotificationsService:
    """``toasts``, ``dismiss``, ``dismiss_all``, ``click``, ``mute``, ``unmute``, ``is_muted``,
    ``muted``, ``unread``, ``unread_total``, ``configure``, ``set_enabled``, ``stats``,
    ``desktop_delivered`` and ``watch`` for callers and the UI; ``load``, ``forget``, ``notify``,
    ``opened``, ``closed``, ``unread_changed`` and ``settings_heard`` for the machine."""

    def __init__(self, db: PersistenceAPI, chat: ChatAPI, config: NotificationsConfig | None = None,
                 emit: Emit | None = None, *, logger: logging.Logger | None = None,
                 clock: Callable[[], int] = _ms):
        self.db = db
        self.chat = chat
        self.config = check_config(config or NotificationsConfig())
        self._emit = emit
        self.log = logger or logging.getLogger("chatkernel.features.notifications")
        self.listener: Listener | None = None
        self._observers: list[Observer] = []
        self._clock = clock
        self._loaded = False
        self._generation = 0  # bumped at every forget: work started before a log-out is dropped
        self._muted: set[str] = set()
        self._toasts: dict[str, dict[str, Any]] = {}  # toast id (the message id) -> toast, oldest first
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._unread: dict[str, int] = {}
        self._open: set[str] = set()
        self._pending: set[str] = set()  # message ids whose preview is being fetched
        self._counts: Counter[str] = Counter()
        self._suppressed: Counter[str] = Counter({reason: 0 for reason in SUPPRESSED_REASONS})
        self._lock = asyncio.Lock()
        self.last_error: dict[str, str] | None = None  # the last refused command, for the widget

    # ------------------------------------------------------------------ readiness
    @property
    def ready(self) -> bool:
        return self.db.state == "open" and self._loaded

    @property
    def enabled(self) -> bool:
        """The global switch (the settings' ``notifications``, live)."""
        return self.config.enabled

    def _require_ready(self) -> None:
        if self.db.state != "open":
            raise NotReadyError("the profile database is not open")
        if not self._loaded:
            raise NotReadyError("no identity is loaded")

    def _say(self, spec: Any, payload: dict[str, Any]) -> None:
        if self._emit is not None:
            self._emit(spec, payload)

    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    def _changed(self, kind: str, **info: Any) -> None:
        for observer in list(self._observers):
            try:
                observer(kind, info)
            except Exception:  # noqa: BLE001 - an observer (a widget) must not break the service
                self.log.exception("a notifications observer failed on %s", kind)

    def watch(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(kind, info)`` on every change (``shown`` {toast}, ``toasts``, ``unread``,
        ``muted``, ``config``, ``state``); returns the function that stops it."""
        if not callable(observer):
            raise InvalidArgumentError("observer", observer, "must be callable")
        self._observers.append(observer)

        def stop() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return stop

    def failed(self, operation: str, exc: BaseException) -> None:
        """A command (or the load) was refused: kept for the widget."""
        self.last_error = {"operation": operation, "kind": type(exc).__name__,
                           "reason": getattr(exc, "reason", None) or str(exc)}
        if operation == "load":
            self._notify("LOAD_FAILED")
        self._changed("state")

    # ------------------------------------------------------------------ lifecycle
    async def load(self) -> int:
        """Read the mutes of the open profile (at log-in) and the chat's unread counts; how many
        conversations are muted."""
        if self.db.state != "open":
            raise NotReadyError("the profile database is not open")
        generation = self._generation
        rows = await self.db.fetchall("SELECT conversation FROM notifications_muted")
        if generation != self._generation or self.db.state != "open":
            raise NotReadyError("logged out while the mutes were read")
        try:
            counts = dict(self.chat.unread_counts())
        except Exception as exc:  # noqa: BLE001 - the badge starts empty; UNREAD_CHANGED fills it
            self.log.warning("unread counts not read from the chat: %s", type(exc).__name__)
            counts = {}
        self._muted = {str(r[0]) for r in rows}
        self._unread = {c: n for c, n in counts.items()
                        if isinstance(c, str) and isinstance(n, int) and not isinstance(n, bool) and n > 0}
        self._loaded = True
        self.last_error = None
        self.log.info("notifications ready: %d muted conversation(s)", len(self._muted))
        self._notify("LOADED", count=len(self._muted))
        self._changed("state")
        return len(self._muted)

    def forget(self) -> None:
        """Drop mutes, toasts and counts from memory (log-out, lock): they belong to who left."""
        self._generation += 1
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._toasts.clear()
        self._muted, self._unread, self._open, self._pending = set(), {}, set(), set()
        self._loaded, self.last_error = False, None
        self._changed("state")

    # ------------------------------------------------------------------ settings
    def configure(self, **changes: Any) -> NotificationsConfig:
        """Change settings live (all valid or nothing changes); the settings in use."""
        before = self.config
        self.config = check_config(self.config, changes)
        if self.config != before:
            self.log.info("notifications settings changed: %s", ", ".join(sorted(changes)))
            self._trim()
            self._changed("config")
        return self.config

    def set_enabled(self, enabled: bool) -> NotificationsConfig:
        """The global switch: off, no message becomes a toast (the stack is cleared)."""
        config = self.configure(enabled=enabled)
        if not config.enabled and self._toasts:
            self.dismiss_all()
        return config

    def settings_heard(self, key: object, value: object) -> None:
        """The settings feature said a value: its ``notifications`` switch (a bool), or this
        feature's own settings (``notifications`` as a mapping, or ``notifications.<key>``)."""
        try:
            if key == "notifications" and isinstance(value, bool):
                self.set_enabled(value)
            elif key == "notifications" and isinstance(value, Mapping):
                changes = {str(k): v for k, v in value.items()}
                enabled = changes.pop("enabled", None)
                self.configure(**changes)
                if enabled is not None:
                    self.set_enabled(enabled)  # type: ignore[arg-type]
            elif isinstance(key, str) and key.startswith("notifications."):
                name = key.partition(".")[2]
                if name == "enabled":
                    self.set_enabled(value)  # type: ignore[arg-type]
                else:
                    self.configure(**{name: value})
        except InvalidArgumentError as exc:  # a value this version does not take: keep the one in use
            self.log.warning("setting %s from the settings feature not applied: %s", key, exc.reason)

    # ------------------------------------------------------------------ toasts
    def toasts(self) -> list[dict[str, Any]]:
        """The stack, oldest first: {conversation, id, title, author, text, at (ms)}."""
        return [dict(t) for t in self._toasts.values()]

    def _remove(self, toast_id: str, why: str) -> dict[str, Any] | None:
        toast = self._toasts.pop(toast_id, None)
        timer = self._timers.pop(toast_id, None)
        if timer is not None:
            timer.cancel()
        if toast is not None:
            self._counts[why] += 1
        return toast

    def dismiss(self, toast_id: str) -> bool:
        """Take a toast off the stack; False if it had gone already (expired, dismissed)."""
        toast_id = check_id("toast id", toast_id)
        if self._remove(toast_id, "dismissed") is None:
            return False
        self._changed("toasts")
        return True

    def dismiss_all(self) -> int:
        """Clear the stack; how many toasts went."""
        ids = list(self._toasts)
        for toast_id in ids:
            self._remove(toast_id, "dismissed")
        if ids:
            self._changed("toasts")
        return len(ids)

    def _dismiss_conversation(self, conversation: str) -> None:
        ids = [i for i, t in self._toasts.items() if t["conversation"] == conversation]
        for toast_id in ids:
            self._remove(toast_id, "dismissed")
        if ids:
            self._changed("toasts")

    def click(self, toast_id: str) -> str:
        """The user clicked a toast: it goes, and NOTIFICATION_CLICKED asks the chat to open its
        conversation (returned)."""
        toast_id = check_id("toast id", toast_id)
        toast = self._toasts.get(toast_id)
        if toast is None:
            raise UnknownToastError(toast_id)
        self._remove(toast_id, "clicked")
        self._say(ev.NOTIFICATION_CLICKED, {"conversation": toast["conversation"]})
        self._changed("toasts")
        return str(toast["conversation"])

    def _expire(self, toast_id: str) -> None:
        self._timers.pop(toast_id, None)
        if self._remove(toast_id, "expired") is not None:
            self._changed("toasts")

    def _trim(self) -> None:
        over = list(self._toasts)[:max(0, len(self._toasts) - self.config.max_toasts)]
        for toast_id in over:  # the oldest go first
            self._remove(toast_id, "evicted")
        if over:
            self._changed("toasts")

    def desktop_delivered(self, shown: bool, toast_id: str | None = None) -> None:
        """The page said whether it raised a browser notification for a toast (stats only)."""
        if not isinstance(shown, bool):
            raise InvalidArgumentError("shown", shown, "must be true or false")
        if toast_id is not None:
            check_id("toast id", toast_id)
        self._counts["desktop_shown" if shown else "desktop_not_shown"] += 1

    # ------------------------------------------------------------------ a message arrived
    def _suppress(self, reason: str, conversation: str, message_id: str) -> None:
        self._suppressed[reason] += 1
        self.log.debug("message %s in %s: no toast (%s)", message_id, conversation, reason)

    def _why_not(self, conversation: str) -> str | None:
        if not self.config.enabled:
            return "disabled"
        if conversation in self._muted:
            return "muted"
        if self._is_open(conversation):
            return "open"
        return None

    def _is_open(self, conversation: str) -> bool:
        try:
            return bool(self.chat.is_open(conversation)) or conversation in self._open
        except Exception:  # noqa: BLE001 - the chat cannot say: what it announced decides
            return conversation in self._open

    def suppressed_while_locked(self, conversation: object, message_id: object) -> None:
        """A message arrived before the log-in finished (the machine is locked): no toast."""
        self._suppressed["locked"] += 1
        self._counts["received"] += 1
        self.log.debug("message %s in %s: no toast (locked)", message_id, conversation)

    async def notify(self, conversation: str, message_id: str) -> dict[str, Any] | None:
        """What a MESSAGE_RECEIVED does: the toast put on the stack, or None (and why, in stats)."""
        conversation = check_id("conversation", conversation)
        message_id = check_id("message id", message_id)
        self._require_ready()
        self._counts["received"] += 1
        reason = self._why_not(conversation)
        if reason is None and (message_id in self._toasts or message_id in self._pending):
            reason = "duplicate"
        if reason is not None:
            self._suppress(reason, conversation, message_id)
            return None
        generation = self._generation
        self._pending.add(message_id)
        try:
            shown = await self._preview(conversation, message_id)
        finally:
            self._pending.discard(message_id)
        if generation != self._generation:  # logged out while the chat answered
            self._suppress("locked", conversation, message_id)
            return None
        reason = self._why_not(conversation)  # opened, muted or switched off meanwhile
        if reason is not None:
            self._suppress(reason, conversation, message_id)
            return None
        toast = {"conversation": conversation, "id": message_id, **shown, "at": self._clock()}
        self._toasts[message_id] = toast
        self._timers[message_id] = asyncio.get_running_loop().call_later(
            self.config.toast_seconds, self._expire, message_id)
        self._counts["shown"] += 1
        self._trim()
        self._say(ev.NOTIFICATION_SHOWN, {"conversation": conversation, "id": message_id, "desktop": False})
        if message_id in self._toasts:
            self._changed("shown", toast=dict(toast))
        return dict(toast)

    async def _preview(self, conversation: str, message_id: str) -> dict[str, str]:
        failed = {"title": NEW_MESSAGE, "author": "", "text": NEW_MESSAGE}
        try:
            preview = preview_of(await self.chat.preview(conversation, message_id))
        except Exception as exc:  # noqa: BLE001 - any failure: a toast without a preview, and a log line
            self._counts["preview_failed"] += 1
            self.log.warning("no preview of message %s in %s: %s", message_id, conversation, type(exc).__name__)
            return failed
        if preview is None:
            self._counts["preview_failed"] += 1
            self.log.warning("no preview of message %s in %s: the chat's answer is not a preview",
                             message_id, conversation)
            return failed
        if not self.config.show_preview:
            preview["text"] = NEW_MESSAGE
        return preview

    # ------------------------------------------------------------------ what the chat says
    def opened(self, conversation: object) -> None:
        """The chat shows ``conversation``: its toasts go."""
        if isinstance(conversation, str):
            self._open.add(conversation)
            self._dismiss_conversation(conversation)

    def closed(self, conversation: object) -> None:
        if isinstance(conversation, str):
            self._open.discard(conversation)

    def unread_changed(self, conversation: object, unread: object) -> None:
        """The chat's unread count for a conversation (the badge)."""
        if not isinstance(conversation, str) or isinstance(unread, bool) or not isinstance(unread, int) or unread < 0:
            return
        if self._unread.get(conversation, 0) != unread:
            if unread:
                self._unread[conversation] = unread
            else:
                self._unread.pop(conversation, None)
            self._changed("unread")

    def unread(self) -> dict[str, int]:
        """Conversation -> unread, for every conversation with unread messages."""
        return dict(self._unread)

    @property
    def unread_total(self) -> int:
        """The badge: unread messages in conversations that are not muted."""
        return sum(n for c, n in self._unread.items() if c not in self._muted)

    # ------------------------------------------------------------------ mutes
    def is_muted(self, conversation: str) -> bool:
        return check_id("conversation", conversation) in self._muted

    def muted(self) -> list[str]:
        self._require_ready()
        return sorted(self._muted)

    async def _set_muted(self, conversation: str, muted: bool) -> bool:
        conversation = check_id("conversation", conversation)
        async with self._lock:
            self._require_ready()
            if (conversation in self._muted) == muted:
                return False  # idempotent: nothing written, nothing said
            generation = self._generation
            if muted:
                await self.db.execute("INSERT OR IGNORE INTO notifications_muted (conversation, muted_at) "
                                      "VALUES (?, ?)", (conversation, self._clock()))
            else:
                await self.db.execute("DELETE FROM notifications_muted WHERE conversation = ?", (conversation,))
            if generation != self._generation:
                raise NotReadyError("logged out while the mute was written")
            if muted:
                self._muted.add(conversation)
            else:
                self._muted.discard(conversation)
        self.log.info("conversation %s %s", conversation, "muted" if muted else "unmuted")
        self._say(ev.CONVERSATION_MUTED, {"conversation": conversation, "muted": muted})
        if muted:
            self._dismiss_conversation(conversation)
        self._changed("muted", conversation=conversation, muted=muted)
        return True

    async def mute(self, conversation: str) -> bool:
        """No toast for ``conversation`` (kept in the profile); False if it was muted already."""
        return await self._set_muted(conversation, True)

    async def unmute(self, conversation: str) -> bool:
        return await self._set_muted(conversation, False)

    # ------------------------------------------------------------------ figures
    def stats(self) -> dict[str, Any]:
        """Counts since mount: received, shown, suppressed (by reason), preview_failed, dismissed,
        clicked, expired, evicted, desktop_shown, desktop_not_shown; and what is on screen now."""
        names = ("received", "shown", "preview_failed", "dismissed", "clicked", "expired", "evicted",
                 "desktop_shown", "desktop_not_shown")
        return {**{n: self._counts[n] for n in names}, "suppressed": dict(self._suppressed),
                "toasts": len(self._toasts), "muted": len(self._muted), "unread_total": self.unread_total,
                "enabled": self.config.enabled}

    def settings(self) -> dict[str, Any]:
        return asdict(self.config)

    def __repr__(self) -> str:
        return (f"NotificationsService(ready={self.ready}, enabled={self.config.enabled}, "
                f"toasts={len(self._toasts)}, muted={len(self._muted)}, unread={self.unread_total})")
