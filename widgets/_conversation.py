"""The conversation pane of the chat window: one conversation's messages and its composer.

A pure view. The chat feature hands it message dicts (see :func:`check_message`) and reacts to its
callbacks; the view knows nothing of contacts, crypto or storage.

A conversation can hold 10,000 messages, so the list is *not* a synced trait (every change would
resend all of it). Python keeps the list, ordered and indexed by id, and sends the browser
incremental custom messages; the browser renders only the rows near the viewport
(``conversation.js``). Python to JS::

    {"type": "reset", "messages": [...], "has_older": bool, "unread_from": str | None, "typing": bool}
    {"type": "prepend", "messages": [...], "has_older": bool}      # older page, oldest first
    {"type": "upsert", "message": {...}}                             # append, or replace in place
    {"type": "typing", "active": bool}

JS to Python (each validated; anything else is ignored with a log line, never a traceback)::

    {"type": "ready"}                                  # a view started: answered with a reset
    {"type": "send", "text": str, "reply_to": str | None}
    {"type": "edit", "id": str, "text": str}
    {"type": "delete", "id": str}
    {"type": "retry", "id": str}
    {"type": "load_older"}
    {"type": "typing"}
    {"type": "read", "id": str}

Log lines carry ids and lengths only, never a body: the log outlives the encrypted store.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import pathlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anywidget
import traitlets as t

__all__ = ["MAX_TEXT_BYTES", "ConversationView", "check_message"]

log = logging.getLogger("chatkernel.widgets.conversation")

#: What the composer may send, in bytes of UTF-8 (the chat feature checks again).
MAX_TEXT_BYTES = 32_000
_MAX_ID_CHARS = 256
_DIRECTIONS = frozenset({"in", "out"})
_STATUSES = frozenset({"queued", "sent", "delivered", "read", "failed", "received"})
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str, "direction": str, "author": str, "text": str, "html": str, "sent_at": int,
    "status": str, "edited": bool, "deleted": bool, "reply_to": (dict, type(None)),
}
_REPLY_FIELDS = ("id", "author", "preview")
_CALLBACKS = ("send", "edit", "delete", "retry", "load_older", "typing", "read")
_VERBS = {"send": "send", "edit": "edit", "delete": "delete", "retry": "retry",
          "load_older": "load older messages", "typing": "report typing", "read": "mark as read"}


def check_message(message: Any) -> dict[str, Any]:
    """A validated copy of one message dict; TypeError/ValueError naming the faulty field.

    Checked here, once, so a bad dict fails at the chat feature's call, not later in a browser.
    """
    if not isinstance(message, Mapping):
        raise TypeError(f"a message must be a dict, got {type(message).__name__}")
    missing = [k for k in _FIELDS if k not in message]
    if missing:
        raise ValueError(f"message is missing field(s): {', '.join(missing)}")
    unknown = sorted(str(k) for k in message if k not in _FIELDS)
    if unknown:
        raise ValueError(f"message has unknown field(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for key, kind in _FIELDS.items():
        value = message[key]
        wrong_bool = key == "sent_at" and isinstance(value, bool)
        if key == "reply_to" and isinstance(value, Mapping):
            value = dict(value)
        if wrong_bool or not isinstance(value, kind):
            raise TypeError(f"message field {key!r} must be {_kind(kind)}, got {type(value).__name__}")
        out[key] = value
    if not out["id"] or len(out["id"]) > _MAX_ID_CHARS:
        raise ValueError(f"message field 'id' must be 1..{_MAX_ID_CHARS} characters")
    if out["direction"] not in _DIRECTIONS:
        raise ValueError(f"message field 'direction' must be 'in' or 'out', got {out['direction']!r}")
    if out["status"] not in _STATUSES:
        raise ValueError(f"message field 'status' must be one of {sorted(_STATUSES)}, got {out['status']!r}")
    reply = out["reply_to"]
    if reply is not None:
        for key in _REPLY_FIELDS:
            if not isinstance(reply.get(key), str):
                raise TypeError(f"message field 'reply_to.{key}' must be str")
        out["reply_to"] = {key: reply[key] for key in _REPLY_FIELDS}
    return out


def _kind(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("None" if k is type(None) else k.__name__ for k in kinds)


class _Refused(Exception):
    """A message from the browser that does not fit its type (the reason is safe to log)."""


class _TooLong(_Refused):
    """A text over :data:`MAX_TEXT_BYTES`: the browser should have refused it, so say so."""


class ConversationView(anywidget.AnyWidget):
    """One conversation's messages (virtualized in the browser) and a composer.

    Methods are synchronous and meant for the kernel's event loop thread, like every widget.
    """

    _esm = pathlib.Path(__file__).with_name("conversation.js")
    _css = pathlib.Path(__file__).with_name("conversation.css")

    title = t.Unicode("").tag(sync=True)
    subtitle = t.Unicode("").tag(sync=True)
    placeholder = t.Unicode("Write a message").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    disabled = t.Bool(False).tag(sync=True)
    disabled_reason = t.Unicode("").tag(sync=True)
    max_text_bytes = t.Int(MAX_TEXT_BYTES, read_only=True).tag(sync=True)

    def __init__(self, title: str = "", subtitle: str = "", placeholder: str | None = None, **kwargs: Any):
        if placeholder is None:
            placeholder = f"Message {title}" if title else "Write a message"
        super().__init__(title=title, subtitle=subtitle, placeholder=placeholder, **kwargs)
        self._order: list[str] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self._has_older = False
        self._unread_from: str | None = None
        self._typing = False
        self._callbacks: dict[str, list[Callable[..., Any]]] = {name: [] for name in _CALLBACKS}
        self.on_msg(self._on_frontend_msg)

    def __repr__(self) -> str:
        return (f"ConversationView(title={self.title!r}, messages={len(self._order)}, "
                f"has_older={self._has_older}, typing={self._typing}, disabled={self.disabled})")

    # -- what Python hands the view ----------------------------------------------------------

    def set_messages(self, messages: Iterable[Mapping[str, Any]], *, has_older: bool,
                     unread_from: str | None = None) -> None:
        """Replace everything (a conversation was opened); oldest first, ids unique."""
        checked = [check_message(m) for m in messages]
        by_id: dict[str, dict[str, Any]] = {}
        for m in checked:
            if m["id"] in by_id:
                raise ValueError(f"duplicate message id {m['id']!r}")
            by_id[m["id"]] = m
        if unread_from is not None and unread_from not in by_id:
            raise ValueError(f"unread_from {unread_from!r} is not the id of a given message")
        self._order = [m["id"] for m in checked]
        self._by_id = by_id
        self._has_older = bool(has_older)
        self._unread_from = unread_from
        log.debug("conversation view: reset with %d messages", len(checked))
        self._send_reset()

    def prepend(self, messages: Iterable[Mapping[str, Any]], *, has_older: bool) -> None:
        """Add an older page in front, oldest first; ids already held are skipped (pages may overlap)."""
        checked = [check_message(m) for m in messages]
        fresh: list[dict[str, Any]] = []
        seen: set[str] = set()
        for m in checked:
            if m["id"] in self._by_id or m["id"] in seen:
                continue
            seen.add(m["id"])
            fresh.append(m)
        for m in fresh:
            self._by_id[m["id"]] = m
        self._order[:0] = [m["id"] for m in fresh]
        self._has_older = bool(has_older)
        log.debug("conversation view: prepended %d of %d messages", len(fresh), len(checked))
        self.send({"type": "prepend", "messages": fresh, "has_older": self._has_older})

    def upsert(self, message: Mapping[str, Any]) -> None:
        """Append a new message, or replace one in place (a status tick, an edit, a tombstone)."""
        m = check_message(message)
        if m["id"] not in self._by_id:
            self._order.append(m["id"])
        self._by_id[m["id"]] = m
        self.send({"type": "upsert", "message": m})

    def set_typing(self, active: bool) -> None:
        """Show or hide the "<title> is typing…" line."""
        self._typing = bool(active)
        self.send({"type": "typing", "active": self._typing})

    def messages(self) -> list[dict[str, Any]]:
        """Copies of what the view holds, oldest first (for tests and scripting)."""
        return [_copy(self._by_id[i]) for i in self._order]

    @property
    def has_older(self) -> bool:
        return self._has_older

    def _send_reset(self) -> None:
        self.send({"type": "reset", "messages": [self._by_id[i] for i in self._order],
                   "has_older": self._has_older, "unread_from": self._unread_from, "typing": self._typing})

    # -- callbacks ---------------------------------------------------------------------------

    def on_send(self, cb: Callable[[str, str | None], Any], *, remove: bool = False) -> None:
        """``cb(text, reply_to_id)`` when the user sends (never empty or whitespace only)."""
        self._register("send", cb, remove)

    def on_edit(self, cb: Callable[[str, str], Any], *, remove: bool = False) -> None:
        """``cb(message_id, text)`` when the user saves an edit of their own message."""
        self._register("edit", cb, remove)

    def on_delete(self, cb: Callable[[str], Any], *, remove: bool = False) -> None:
        """``cb(message_id)`` after the user confirmed deleting their own message."""
        self._register("delete", cb, remove)

    def on_retry(self, cb: Callable[[str], Any], *, remove: bool = False) -> None:
        """``cb(message_id)`` when the user asks to resend a failed message."""
        self._register("retry", cb, remove)

    def on_load_older(self, cb: Callable[[], Any], *, remove: bool = False) -> None:
        """``cb()`` when the user reached the top and there are older messages: answer with prepend."""
        self._register("load_older", cb, remove)

    def on_typing(self, cb: Callable[[], Any], *, remove: bool = False) -> None:
        """``cb()`` while the user types; the browser throttles it to one per 3 s."""
        self._register("typing", cb, remove)

    def on_read(self, cb: Callable[[str], Any], *, remove: bool = False) -> None:
        """``cb(last_visible_incoming_id)`` when incoming messages were seen in a focused page."""
        self._register("read", cb, remove)

    def _register(self, name: str, cb: Callable[..., Any], remove: bool) -> None:
        if not callable(cb):
            raise TypeError(f"on_{name} needs a callable, got {type(cb).__name__}")
        handlers = self._callbacks[name]
        if remove:
            if cb in handlers:
                handlers.remove(cb)
        elif cb not in handlers:
            handlers.append(cb)

    def _fire(self, name: str, *args: Any) -> None:
        """Call the handlers; a raising one shows a short error line instead of a notebook traceback."""
        for cb in list(self._callbacks[name]):
            try:
                result = cb(*args)
            except Exception:
                log.exception("conversation view: the %s callback failed", name)
                self.error = f"Could not {_VERBS[name]}: an error occurred (see the log)."
                continue
            if inspect.isawaitable(result):
                try:
                    task = asyncio.ensure_future(result)
                except RuntimeError:  # no running loop (a script): nothing would ever run it
                    if inspect.iscoroutine(result):
                        result.close()
                    log.error("conversation view: the %s callback is async but no event loop runs", name)
                    self.error = f"Could not {_VERBS[name]}: no event loop runs the callback."
                    continue
                task.add_done_callback(lambda done, name=name: self._async_done(name, done))

    def _async_done(self, name: str, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("conversation view: the %s callback failed", name, exc_info=exc)
            self.error = f"Could not {_VERBS[name]}: an error occurred (see the log)."

    # -- what the browser sends --------------------------------------------------------------

    def _on_frontend_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        try:
            self._dispatch(content)
        except _TooLong as exc:
            log.warning("conversation view: ignored a message from the browser: %s", exc)
            self.error = f"Not sent: the message is over the limit of {MAX_TEXT_BYTES:,} bytes."
        except _Refused as exc:
            log.warning("conversation view: ignored a message from the browser: %s", exc)
        except Exception:  # noqa: BLE001 - a bug here must not print a traceback into the notebook
            log.exception("conversation view: failed to handle a message from the browser")

    def _dispatch(self, content: Any) -> None:
        if not isinstance(content, dict):
            raise _Refused(f"not an object ({type(content).__name__})")
        kind = content.get("type")
        if not isinstance(kind, str):
            raise _Refused("no type")
        if kind == "ready":
            self._send_reset()
        elif kind == "send":
            text = _text(content)
            reply_to = content.get("reply_to")
            if reply_to is not None:
                reply_to = _id(content, "reply_to")
            if self.disabled:
                raise _Refused("send while the composer is disabled")
            if text.strip():
                self._fire("send", text, reply_to)
        elif kind == "edit":
            message = self._own(_id(content))
            text = _text(content)
            if text.strip():
                self._fire("edit", message["id"], text)
        elif kind == "delete":
            self._fire("delete", self._own(_id(content))["id"])
        elif kind == "retry":
            message = self._known(_id(content))
            if message["status"] != "failed":
                raise _Refused(f"retry of {message['id']!r}, which has not failed")
            self._fire("retry", message["id"])
        elif kind == "load_older":
            if self._has_older:
                self._fire("load_older")
        elif kind == "typing":
            self._fire("typing")
        elif kind == "read":
            message = self._known(_id(content))
            if message["direction"] != "in":
                raise _Refused(f"read of {message['id']!r}, which is not incoming")
            self._fire("read", message["id"])
        else:
            raise _Refused(f"unknown type {kind[:40]!r}")

    def _known(self, message_id: str) -> dict[str, Any]:
        message = self._by_id.get(message_id)
        if message is None:
            raise _Refused(f"unknown message id {message_id[:40]!r}")
        return message

    def _own(self, message_id: str) -> dict[str, Any]:
        message = self._known(message_id)
        if message["direction"] != "out" or message["deleted"]:
            raise _Refused(f"{message_id[:40]!r} is not an own message that can change")
        return message


def _id(content: dict[str, Any], key: str = "id") -> str:
    value = content.get(key)
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_CHARS:
        raise _Refused(f"{content['type']}: {key!r} must be a string of 1..{_MAX_ID_CHARS} characters")
    return value


def _text(content: dict[str, Any]) -> str:
    value = content.get("text")
    if not isinstance(value, str):
        raise _Refused(f"{content['type']}: 'text' must be a string")
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise _TooLong(f"{content['type']}: text of {size} bytes, over {MAX_TEXT_BYTES}")
    return value


def _copy(message: dict[str, Any]) -> dict[str, Any]:
    out = dict(message)
    if out["reply_to"] is not None:
        out["reply_to"] = dict(out["reply_to"])
    return out
