"""The chat window: the conversation list beside the open conversation.

It reads the chat service and follows the chat actor; every action goes through
:func:`chatkernel.fire` to the actor (so commands run in order, off the widget's callback) and
a refusal comes back as the service's ``last_error``, shown in the conversation pane. Each
message body is rendered once (markdown-it-py, then nh3: no script, no remote image), cached by
id and text, and a big one off the kernel's loop; names are escaped or set as text.

A group is listed after the contacts as ``# name`` (``[left]`` / ``[removed]`` once read-only);
its view heads each run of incoming messages with the author's name and says who is typing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

import ipywidgets as widgets

from chatkernel import ChatKernelError, Event, InspectionRecord, fire
from widgets import FeatureView, GroupConversationView, MarkdownError, feature_actor, render_markdown, typing_line

from . import events as ev

__all__ = ["ChatWindow"]

log = logging.getLogger("chatkernel.features.chat")

_VIEW_FIELDS = ("id", "direction", "author", "text", "sent_at", "status", "edited", "deleted")
_RENDERED_CACHE = 4_096  # bodies kept rendered (a few screens of every open conversation)
_OFF_LOOP_BYTES = 4_096  # bodies longer than this render in a thread (a hostile 32 KB one takes ~1 s)


def _label(name: str, unread: int, blocked: bool, mark: str = "") -> str:
    return f"{name}{f' ({unread})' if unread else ''}{' [blocked]' if blocked else ''}{mark}"


_CLOSED = {"left": "you left this group", "removed": "you were removed from this group"}


class ChatWindow(FeatureView):
    """Pick a conversation on the left; read and write it on the right (Enter sends)."""

    def __init__(self, source: Any, conversation: str | None = None, **kwargs: Any):
        actor = feature_actor(source, "chat", "ChatWindow")
        self.picker = widgets.Select(options=[], rows=14, layout=widgets.Layout(
            width="28%", min_width="110px", max_width="200px", height="auto"))
        self._relisting = False  # new labels (an unread count) are no pick: the shown conversation stays
        self.picker.observe(lambda change: self._relisting or self.show(change["new"]), names="value")
        self.view = GroupConversationView(title="", subtitle="pick a conversation", placeholder="Pick a conversation")
        self.view.layout = widgets.Layout(flex="1 1 auto", min_width="0")
        self.view.on_send(lambda text, reply_to: self._fire("SEND", text=text, reply_to=reply_to))
        self.view.on_edit(lambda message_id, text: self._fire("EDIT", message_id=message_id, text=text))
        self.view.on_delete(lambda message_id: self._fire("DELETE", message_id=message_id))
        self.view.on_retry(lambda message_id: self._fire("RETRY", message_id=message_id))
        self.view.on_load_older(lambda: self._fire("OLDER"))
        self.view.on_typing(lambda: self._fire("TYPING"))
        self.view.on_read(lambda message_id: self._fire("READ", up_to=message_id))
        self.conversation: str | None = None
        self._stop_watching: Any = None
        self._rendered: OrderedDict[tuple[str, str], str] = OrderedDict()
        super().__init__(children=[widgets.HBox([self.picker, self.view],
                                                layout=widgets.Layout(width="100%", overflow="visible"))],
                         **kwargs)
        self.add_class("chatkernel-chat")
        self.follow(actor, ev.EMITTED, redraw_on=("actor.snapshot", "actor.event", "actor.stopped"))
        self._stop_contacts = actor.system.inspect(self._contacts_moved)  # names, blocks, the list loaded
        self.refresh()
        if conversation is not None:
            self.show(conversation)

    # ------------------------------------------------------------------ actions
    def _fire(self, command: str, **data: Any) -> None:
        if self.conversation is not None:
            fire(self.actor, command, conversation=self.conversation, **data)

    def show(self, conversation: str | None) -> None:
        """Open ``conversation`` here (closing the one shown before)."""
        if conversation == self.conversation:
            return
        if self._stop_watching is not None:
            self._stop_watching()
            self._stop_watching = None
        if self.conversation is not None:
            fire(self.actor, "CLOSE", conversation=self.conversation)
        self.conversation = conversation
        if self.picker.value != conversation and (conversation is None or conversation in self._options()):
            self.picker.value = conversation
        self.view.set_messages([], has_older=False)
        self.view.typing_text = ""
        self.view.set_typing(False)
        self.view.group = conversation is not None and self.service.is_group(conversation)
        if conversation is None:
            self.view.title, self.view.subtitle = "", "pick a conversation"
            self.view.placeholder = "Pick a conversation"
            return
        self.view.title = self.service.title(conversation)
        self.view.placeholder = f"Message {self.view.title}"
        try:
            self._stop_watching = self.service.watch(conversation, self._changed)
        except Exception as exc:  # noqa: BLE001 - logged out meanwhile: the pane says why
            self.view.error = str(exc)
            return
        fire(self.actor, "OPEN", conversation=conversation)
        self._draw_header()

    # ------------------------------------------------------------------ what the conversation says
    def _changed(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "reset":
            self._render_then(data["messages"], lambda shown: self.view.set_messages(
                shown, has_older=bool(data.get("has_older")), unread_from=self._first_unread(shown)))
        elif kind == "prepend":
            self._render_then(data["messages"], lambda shown: self.view.prepend(
                shown, has_older=bool(data.get("has_older"))))
        elif kind == "upsert":
            self._render_then([data["message"]], lambda shown: self.view.upsert(shown[0]))
            message = data["message"]
            if message["status"] == "failed" and message.get("reason"):
                self.view.error = f"not sent: {message['reason']} (retry from the message)"
        elif kind == "remove" and self.conversation is not None:
            self._render_then(self.service.messages(self.conversation), lambda shown: self.view.set_messages(
                shown, has_older=self.view.has_older))
        elif kind == "typing":
            self.view.typing_text = typing_line(data.get("names") or []) if self.view.group else ""
            self.view.set_typing(bool(data.get("active")))
        elif kind == "group":
            self._draw_header()
        elif kind == "notice":
            self.view.error = str(data.get("text", ""))

    @staticmethod
    def _first_unread(shown: list[dict[str, Any]]) -> str | None:
        return next((m["id"] for m in shown if m["direction"] == "in" and m["status"] == "received"), None)

    def _render_then(self, messages: list[dict[str, Any]], apply: Any) -> None:
        """``apply`` the view dicts of ``messages``; big bodies render in a thread first, and
        the result is applied only if the same conversation is still shown."""
        big = [m for m in messages if not m["deleted"] and (m["id"], m["text"]) not in self._rendered
               and len(m["text"]) > _OFF_LOOP_BYTES]
        if not big:
            apply([self._view_dict(m) for m in messages])
            return
        shown_for = self.conversation

        async def later() -> None:
            for message in big:
                self._remember(message, await asyncio.to_thread(self._render, message["text"]))
            if self.conversation == shown_for:
                apply([self._view_dict(m) for m in messages])

        task = asyncio.get_running_loop().create_task(later(), name="chat:render")
        task.add_done_callback(lambda done: done.cancelled() or done.exception() is None
                               or log.warning("rendering failed: %s", type(done.exception()).__name__))

    @staticmethod
    def _render(text: str) -> str:
        try:
            return render_markdown(text)
        except MarkdownError:
            return ""

    def _remember(self, message: dict[str, Any], html: str) -> None:
        self._rendered[(message["id"], message["text"])] = html
        while len(self._rendered) > _RENDERED_CACHE:
            self._rendered.popitem(last=False)

    def _view_dict(self, message: dict[str, Any]) -> dict[str, Any]:
        out = {key: message[key] for key in _VIEW_FIELDS}
        if message["deleted"]:
            out["html"] = ""
        else:
            key = (message["id"], message["text"])
            if key not in self._rendered:
                self._remember(message, self._render(message["text"]))
            out["html"] = self._rendered[key]
        quote = message["reply_to"]
        out["reply_to"] = (dict(quote) if isinstance(quote, dict)
                           else {"id": quote, "author": "", "preview": ""} if isinstance(quote, str) else None)
        return out

    # ------------------------------------------------------------------ drawing
    def _contacts_moved(self, record: InspectionRecord) -> None:
        if record.actor == "contacts" and record.kind == "actor.snapshot":
            self._safely(self.refresh)

    def _options(self) -> list[str]:
        return [value for _, value in self.picker.options]

    def heard(self, event: Event) -> None:
        if event.type in ("UNREAD_CHANGED", "CONVERSATION_OPENED", "CONVERSATION_CLOSED"):
            self.refresh()

    def refresh(self) -> None:
        service = self.service
        if not service.ready:
            options: list[tuple[str, str]] = []
        else:
            unread = service.unread_counts()
            contacts = service.contacts
            try:
                listed = contacts.list() if hasattr(contacts, "list") else []
            except ChatKernelError:  # still loading: drawn again when the contacts actor moves
                listed = []
            options = [(_label(c["name"], unread.get(c["user_id"], 0), c["blocked"]), c["user_id"]) for c in listed]
            strangers = sorted(set(unread) - {c["user_id"] for c in listed})
            options += [(_label(service.title(peer), unread[peer], False), peer) for peer in strangers
                        if not service.is_group(peer)]
            groups = sorted(service.groups.all(), key=lambda g: str(g.get("name", "")).casefold())
            options += [(_label(f"# {g['name']}", unread.get(g["group"], 0), False,
                                "" if g.get("state") == "active" else f" [{g.get('state')}]"), g["group"])
                        for g in groups]
        if list(self.picker.options) != options:
            keep = self.conversation
            self._relisting = True
            try:
                self.picker.options = options
                self.picker.value = keep if any(value == keep for _, value in options) else None
            finally:
                self._relisting = False
        self._draw_header()

    def _draw_header(self) -> None:
        service = self.service
        error = service.last_error
        if error is not None:
            self.view.error = f"{error[0]}: {error[1]}"
        conversation = self.conversation
        if conversation is None or not service.ready:
            self.view.disabled, self.view.disabled_reason = True, "log in and pick a conversation"
            return
        if service.is_group(conversation):
            self._draw_group(conversation)
            return
        contacts = service.contacts
        if not contacts.is_contact(conversation):
            self.view.disabled, self.view.disabled_reason = True, "not in your contacts: add them from an invite"
        elif contacts.is_blocked(conversation):
            self.view.disabled, self.view.disabled_reason = True, "blocked: unblock them in Contacts to write"
        elif self._trust(conversation) == "changed":
            self.view.disabled, self.view.disabled_reason = True, (
                "their key changed: compare the new safety number, then accept it in Contacts")
        else:
            self.view.disabled, self.view.disabled_reason = False, ""
        try:
            contact = contacts.get(conversation) if contacts.is_contact(conversation) else None
        except Exception:  # noqa: BLE001 - removed meanwhile
            contact = None
        if contact is not None:
            trust = {"verified": "verified", "pinned": "not verified", "changed": "KEY CHANGED"}.get(
                contact.get("trust"), str(contact.get("trust")))
            self.view.subtitle = f"{contact['presence']} · {trust}"
            self.view.title = contact["name"]

    def _draw_group(self, conversation: str) -> None:
        info = self.service.group(conversation)
        if info is None:
            self.view.disabled, self.view.disabled_reason = True, "this group is not known here (yet)"
            return
        state = str(info.get("state"))
        self.view.title = self.service.title(conversation)
        self.view.placeholder = f"Message {self.view.title}"
        if state == "active":
            self.view.disabled, self.view.disabled_reason = False, ""
        else:
            self.view.disabled = True
            self.view.disabled_reason = _CLOSED.get(state, f"you are not in this group ({state})") + ": read only"
        me = self.service.identity.user_id
        members = info.get("members", ())
        names = sorted((self.service.member_name(m) for m in members if m != me), key=str.casefold)
        names = (["you"] if me in members else []) + names
        shown = ", ".join(names[:9]) + (f" and {len(names) - 9} more" if len(names) > 9 else "")
        self.view.subtitle = f"{len(members)} members: {shown}"

    def _trust(self, conversation: str) -> str | None:
        try:
            return str(self.service.contacts.get(conversation).get("trust"))
        except Exception:  # noqa: BLE001 - removed meanwhile
            return None

    def close(self) -> None:
        stop_contacts = self.__dict__.pop("_stop_contacts", None)
        if stop_contacts is not None:
            stop_contacts()
        if self.__dict__.get("_stop_watching") is not None:
            self._stop_watching()
            self._stop_watching = None
        super().close()

    def __repr__(self) -> str:
        return f"ChatWindow(conversation={self.conversation!r}, conversations={len(self.picker.options)})"
