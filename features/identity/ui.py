"""The identity feature's widgets: the local identity's card and a contact's safety number.

Both read the service and redraw when the machine moves (inspection stream) or the feature
speaks (its events); the actions, "Mark verified" and, after KEY_CHANGED, "Dismiss alert" (keep
the pinned key: other keys cannot be this contact's), go through :func:`chatkernel.fire` to the
actor, which calls the service. There is no "accept": a contact's new keys come with a new user
id and a new invite. Every shown string is escaped (display names are typed by
people) and colours come from JupyterLab's CSS variables, so both read in light and dark themes.
The QR code keeps its own white background (see ``_qr``).
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import Actor, fire
from widgets import FeatureView, feature_actor, kv_table
from widgets import BORDER as _BORDER
from widgets import ERROR as _ERROR
from widgets import MONO as _MONO
from widgets import MUTED as _MUTED
from widgets import SUCCESS as _SUCCESS
from widgets import TEXT as _TEXT
from widgets import WARN as _WARN

from . import events as ev
from ._qr import invite_qr_svg
from ._safety import format_safety_number
from .errors import IdentityError

__all__ = ["IdentityCard", "SafetyNumberView"]

_STATUS = {"verified": _SUCCESS, "changed": _ERROR, "pinned": _WARN}


def _kv(rows: dict[str, str], colors: dict[str, str] | None = None) -> str:
    return kv_table(rows, colors, wrap=True)


class _View(FeatureView):
    """Follows the identity actor: redraws on its state changes and on the feature's events."""

    def _follow(self, actor: Actor) -> None:
        self.follow(actor, ev.EMITTED)


class IdentityCard(_View):
    """Display name, user id, fingerprint, and the invite for a relay URL: as text to copy and as a QR code."""

    def __init__(self, source: Any, relay_url: str = "", **kwargs: Any):
        self.info = widgets.HTML()
        self.relay = widgets.Text(value=relay_url, description="Relay URL", placeholder="https://relay.example",
                                  continuous_update=False, layout=widgets.Layout(width="100%"))
        self.invite_text = widgets.Textarea(description="Invite", rows=3, layout=widgets.Layout(width="100%"),
                                            tooltip="Select all and copy; send it to your contact")
        self.qr = widgets.HTML()
        self.rows: dict[str, str] = {}
        self.invite: str | None = None
        super().__init__(children=[self.info, self.relay, self.invite_text, self.qr], **kwargs)
        self.add_class("chatkernel-identity-card")
        self._follow(feature_actor(source, "identity", "IdentityCard"))
        self.relay.observe(lambda _: self.refresh(), names="value")
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the service; the invite follows the relay URL field."""
        service = self.service
        if service.user_id is None:
            self.rows = {"Identity": "none loaded", "State": ",".join(self.actor.state)}
            self.invite, self.invite_text.value, self.qr.value = None, "", ""
        else:
            self.rows = {"Name": service.display_name or "", "User id": service.user_id,
                         "Fingerprint": service.fingerprint or ""}
            self._draw_invite()
        self.info.value = _kv(self.rows)

    def _draw_invite(self) -> None:
        url = self.relay.value.strip()
        self.invite = None
        if not url:
            self.invite_text.value = ""
            self.qr.value = f"<i style='color:{_MUTED}'>give a relay URL to make an invite</i>"
            return
        try:
            self.invite = self.service.invite(url)
        except IdentityError as exc:
            self.invite_text.value = ""
            reason = escape(getattr(exc, "reason", str(exc)))
            self.qr.value = f"<span style='color:{_STATUS['changed']}'>{reason}</span>"
            return
        self.invite_text.value = self.invite
        svg = invite_qr_svg(self.invite).decode("utf-8")
        self.qr.value = f"<div style='max-width:260px' title='{escape(self.invite)}'>{svg}</div>"

    def __repr__(self) -> str:
        return f"IdentityCard(user_id={self.rows.get('User id')!r})"


class SafetyNumberView(_View):
    """A contact's 60-digit safety number in 12 groups of 5, their trust status, "Mark verified"
    and, while other keys presented for them block sending, "Dismiss alert"."""

    def __init__(self, source: Any, user_id: str, **kwargs: Any):
        self.user_id = user_id
        self.info = widgets.HTML()
        self.number = widgets.HTML()
        self.verify_button = widgets.Button(description="Mark verified", icon="check",
                                            tooltip="Only after comparing all 60 digits with your contact")
        self.verify_button.on_click(lambda _: self.verify())
        self.dismiss_button = widgets.Button(description="Dismiss alert", icon="times",
                                             tooltip="Keep the pinned key: the other keys cannot be this contact's")
        self.dismiss_button.on_click(lambda _: self.dismiss())
        self.rows: dict[str, str] = {}
        self.groups: list[str] = []
        self._shown: str | None = None  # the fingerprint the shown number belongs to
        self._cache: tuple[str, str] | None = None
        super().__init__(children=[self.info, self.number, widgets.HBox([self.verify_button, self.dismiss_button])],
                         **kwargs)
        self.add_class("chatkernel-safety-number")
        self._follow(feature_actor(source, "identity", "SafetyNumberView"))
        self.refresh()

    def verify(self) -> None:
        """Mark the contact verified for the key whose number is on screen (refused if it changed)."""
        if self._shown is not None:
            fire(self.actor, "VERIFY", user_id=self.user_id, fingerprint=self._shown)

    def dismiss(self) -> None:
        """Dismiss the alert about other keys for the contact: the pinned key (the number on screen) stays."""
        if self.rows.get("Status") == "changed":
            fire(self.actor, "DISMISS", user_id=self.user_id)

    def _number(self, fingerprint: str) -> str:
        if self._cache is None or self._cache[0] != fingerprint:
            self._cache = (fingerprint, self.service.safety_number(self.user_id))
        return self._cache[1]

    def refresh(self) -> None:
        try:
            contact = self.service.contact(self.user_id)
        except IdentityError as exc:
            self.rows, self.groups, self._shown = {"Contact": self.user_id, "Error": str(exc)}, [], None
            self.info.value, self.number.value = _kv(self.rows, {"Error": _STATUS["changed"]}), ""
            self.verify_button.disabled = self.dismiss_button.disabled = True
            return
        status = contact["status"]
        self.rows = {"Contact": contact["name"] or contact["userId"], "User id": contact["userId"], "Status": status}
        if status == "changed":
            self.rows["Note"] = ("other keys were presented for this contact: they cannot be theirs (a user id is "
                                 "derived from its keys), so sending is blocked; dismiss the alert to keep the "
                                 "pinned key. A contact with new keys has a new user id: add their new invite")
        self._shown = contact["fingerprint"]
        self.groups = format_safety_number(self._number(contact["fingerprint"])).split()
        lines = [" ".join(self.groups[i:i + 4]) for i in range(0, 12, 4)]
        self.info.value = _kv(self.rows, {"Status": _STATUS.get(status, _TEXT), "Note": _STATUS["changed"]})
        self.number.value = (f"<pre style='font-family:{_MONO};font-size:1.3em;letter-spacing:0.05em;"
                             f"color:{_TEXT};border:1px solid {_BORDER};padding:0.5em 1em;display:inline-block'>"
                             + "\n".join(escape(line) for line in lines) + "</pre>")
        self.verify_button.disabled = status != "pinned"
        self.dismiss_button.disabled = status != "changed"

    def __repr__(self) -> str:
        return f"SafetyNumberView(user_id={self.user_id!r}, status={self.rows.get('Status')!r})"
