"""The contact list panel: add from an invite, pick, rename, verify, block, remove.

It reads the service and redraws when the contacts actor moves or the feature speaks; every
action goes through :func:`chatkernel.fire` to the actor, which calls the service, and a refusal
comes back as the service's ``last_error``, shown under the form in the theme's error colour.
Names are typed by people and invites come from anywhere: every shown string is escaped.
Removing asks for a second click. Colours are JupyterLab's CSS variables (light and dark).
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import fire
from widgets import ERROR as _ERROR
from widgets import MUTED as _MUTED
from widgets import SUCCESS as _SUCCESS
from widgets import TEXT as _TEXT
from widgets import WARN as _WARN
from widgets import FeatureView, feature_actor

from . import events as ev

__all__ = ["ContactsPanel"]

_TRUST = {"verified": ("verified", _SUCCESS), "pinned": ("not verified", _MUTED),
          "changed": ("KEY CHANGED: sending blocked", _ERROR)}


def _row(contact: dict[str, Any]) -> str:
    dot = (f"<span title='online' style='color:{_SUCCESS}'>&#9679;</span>" if contact["presence"] == "online"
           else f"<span title='offline' style='color:{_MUTED}'>&#9675;</span>")
    trust, colour = _TRUST.get(contact["trust"], (contact["trust"], _WARN))
    unread = (f" <b style='color:{_TEXT}'>({contact['unread']} unread)</b>" if contact["unread"] else "")
    blocked = f" <span style='color:{_ERROR}'>blocked</span>" if contact["blocked"] else ""
    return (f"<div style='color:{_TEXT}'>{dot} {escape(contact['name'])}{unread}"
            f" <span style='color:{colour};font-size:0.9em'>{escape(trust)}</span>{blocked}</div>")


class ContactsPanel(FeatureView):
    """The list (presence, unread, trust, blocked) and the forms that change it."""

    def __init__(self, source: Any, **kwargs: Any):
        actor = feature_actor(source, "contacts", "ContactsPanel")
        self.invite = widgets.Textarea(placeholder="paste an invite, or the text of its QR code", rows=2,
                                       layout=widgets.Layout(width="100%"))
        self.new_name = widgets.Text(placeholder="their name (optional)", layout=widgets.Layout(width="50%"))
        self.add_button = widgets.Button(description="Add contact", icon="user-plus")
        self.add_button.on_click(lambda _: self.add())
        self.error = widgets.HTML()
        self.listing = widgets.HTML()
        self.picker = widgets.Select(options=[], rows=8, layout=widgets.Layout(width="100%"))
        self.picker.observe(lambda _: self._draw_actions(), names="value")
        self.open_button = widgets.Button(description="Open chat", icon="comment")
        self.open_button.on_click(lambda _: self.select())
        self.rename_text = widgets.Text(placeholder="new name")
        self.rename_button = widgets.Button(description="Rename", icon="pencil")
        self.rename_button.on_click(lambda _: self.rename())
        self.number = widgets.Textarea(placeholder="the 60 digits your contact reads out", rows=2,
                                       layout=widgets.Layout(width="100%"))
        self.verify_button = widgets.Button(description="Compare and verify", icon="check")
        self.verify_button.on_click(lambda _: self.verify())
        self.block_button = widgets.Button(description="Block", icon="ban")
        self.block_button.on_click(lambda _: self.toggle_block())
        self.remove_button = widgets.Button(description="Remove", icon="trash", button_style="")
        self.remove_button.on_click(lambda _: self.remove())
        self.ours = widgets.HTML()
        self._confirm_remove: str | None = None
        self.contacts: list[dict[str, Any]] = []
        actions = widgets.VBox([
            widgets.HBox([self.open_button, self.block_button, self.remove_button]),
            widgets.HBox([self.rename_text, self.rename_button]),
            self.ours, self.number, self.verify_button,
        ])
        super().__init__(children=[widgets.HBox([self.new_name, self.add_button]), self.invite, self.error,
                                   self.listing, self.picker, actions], **kwargs)
        self.add_class("chatkernel-contacts")
        self.follow(actor, ev.EMITTED, redraw_on=("actor.snapshot", "actor.event", "actor.stopped"))
        self.refresh()

    # ------------------------------------------------------------------ actions
    @property
    def chosen(self) -> str | None:
        return self.picker.value

    def add(self) -> None:
        fire(self.actor, "ADD", invite=self.invite.value, name=self.new_name.value or None)
        self.invite.value, self.new_name.value = "", ""

    def select(self) -> None:
        if self.chosen:
            fire(self.actor, "SELECT", user_id=self.chosen)

    def rename(self) -> None:
        if self.chosen:
            fire(self.actor, "RENAME", user_id=self.chosen, name=self.rename_text.value)
            self.rename_text.value = ""

    def verify(self) -> None:
        if self.chosen:
            fire(self.actor, "VERIFY", user_id=self.chosen, number=self.number.value)
            self.number.value = ""

    def toggle_block(self) -> None:
        contact = self._current()
        if contact is not None:
            fire(self.actor, "UNBLOCK" if contact["blocked"] else "BLOCK", user_id=contact["user_id"])

    def remove(self) -> None:
        """The first click asks, the second (on the same contact) removes."""
        if not self.chosen:
            return
        if self._confirm_remove != self.chosen:
            self._confirm_remove = self.chosen
            self._draw_actions()
            return
        self._confirm_remove = None
        fire(self.actor, "REMOVE", user_id=self.chosen)

    # ------------------------------------------------------------------ drawing
    def _current(self) -> dict[str, Any] | None:
        return next((c for c in self.contacts if c["user_id"] == self.chosen), None)

    def refresh(self) -> None:
        service = self.service
        error = service.last_error
        self.error.value = (f"<span style='color:{_ERROR}'>{escape(error['operation'])}: "
                            f"{escape(error['reason'])}</span>" if error else "")
        if not service.ready:
            self.contacts = []
            self.listing.value = f"<i style='color:{_MUTED}'>log in to see your contacts</i>"
        else:
            self.contacts = service.list()
            online = sum(c["presence"] == "online" for c in self.contacts)
            self.listing.value = (f"<div style='color:{_MUTED}'>{len(self.contacts)} contacts, {online} online</div>"
                                  + "".join(_row(c) for c in self.contacts))
        options = [(f"{c['name']}{' (' + str(c['unread']) + ')' if c['unread'] else ''}", c["user_id"])
                   for c in self.contacts]
        if list(self.picker.options) != options:
            keep = self.chosen
            self.picker.options = options
            self.picker.value = keep if any(v == keep for _, v in options) else None
        self.add_button.disabled = not service.ready
        self._draw_actions()

    def _draw_actions(self) -> None:
        contact = self._current()
        for button in (self.open_button, self.rename_button, self.verify_button, self.block_button,
                       self.remove_button):
            button.disabled = contact is None
        if contact is None:
            self.ours.value = ""
            return
        self.block_button.description = "Unblock" if contact["blocked"] else "Block"
        confirming = self._confirm_remove == contact["user_id"]
        self.remove_button.description = "Click again to remove" if confirming else "Remove"
        self.remove_button.button_style = "danger" if confirming else ""
        try:
            number = self.service.safety_number(contact["user_id"])
        except Exception:  # noqa: BLE001 - logged out meanwhile: nothing to show
            number = ""
        groups = " ".join(number[i:i + 5] for i in range(0, len(number), 5))
        self.ours.value = (f"<div style='color:{_MUTED}'>Your safety number with {escape(contact['name'])} "
                           f"(compare it with theirs):</div><code style='color:{_TEXT}'>{escape(groups)}</code>")

    def __repr__(self) -> str:
        return f"ContactsPanel(contacts={len(self.contacts)}, chosen={self.chosen!r})"
