"""The identity feature's widgets: the local identity's card and a contact's safety number.

Both read the service and redraw when the machine moves (inspection stream) or the feature
speaks (its events); the one action, "Mark verified", goes through :func:`chatkernel.fire` to
the actor, which calls the service. Every shown string is escaped (display names are typed by
people) and colours come from JupyterLab's CSS variables, so both read in light and dark themes.
The QR code keeps its own white background (see ``_qr``).
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import Actor, Event, InspectionRecord, fire

from . import events as ev
from ._qr import invite_qr_svg
from ._safety import format_safety_number
from .errors import IdentityError

__all__ = ["IdentityCard", "SafetyNumberView"]

_MUTED = "var(--jp-ui-font-color2, #555)"
_TEXT = "var(--jp-ui-font-color1, #000)"
_MONO = "var(--jp-code-font-family, monospace)"
_BORDER = "var(--jp-border-color1, #ccc)"
_STATUS = {"verified": "var(--jp-success-color1, green)", "changed": "var(--jp-error-color1, #c00)",
           "pinned": "var(--jp-warn-color1, #b60)"}


def _actor_of(source: Any, who: str) -> Actor:
    if isinstance(source, Actor):
        return source
    actors = getattr(source, "actors", None)
    if actors is not None and "identity" in actors:
        return actors["identity"]
    raise TypeError(f"{who} needs a booted App with the identity feature, or its Actor; got {source!r}")


def _table(rows: dict[str, str], colors: dict[str, str] | None = None) -> str:
    colors = colors or {}
    cells = "".join(f"<tr><td style='color:{_MUTED};padding-right:1em;vertical-align:top'>{escape(k)}</td>"
                    f"<td style='color:{colors.get(k, _TEXT)};word-break:break-all'>{escape(v)}</td></tr>"
                    for k, v in rows.items())
    return f"<table style='font-family:var(--jp-ui-font-family)'>{cells}</table>"


class _View(widgets.VBox):
    """Follows the identity actor: redraws on its snapshots and on the feature's events."""

    def _follow(self, actor: Actor) -> None:
        self.actor = actor
        self.service = actor.machine.service
        self._stop_inspecting = actor.system.inspect(self._record)
        bus = actor.system.bus
        self._subscriptions = [bus.subscribe(spec.type, self._heard, owner=actor.feature)
                               for spec in ev.EMITTED] if bus is not None else []

    def _record(self, record: InspectionRecord) -> None:
        if record.actor == self.actor.id and record.kind in ("actor.snapshot", "actor.stopped"):
            self.refresh()

    def _heard(self, event: Event) -> None:
        if event.source == self.actor.feature:
            self.refresh()

    def refresh(self) -> None:  # pragma: no cover - every view defines it
        raise NotImplementedError

    def close(self) -> None:
        """Detach from the actor and the bus (also reached from ``__del__``, maybe half-built)."""
        stop = self.__dict__.pop("_stop_inspecting", None)
        if stop is not None:
            stop()
        for subscription in self.__dict__.get("_subscriptions", ()):
            subscription.cancel()
        self._subscriptions = []
        super().close()


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
        self._follow(_actor_of(source, "IdentityCard"))
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
        self.info.value = _table(self.rows)

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
    """A contact's 60-digit safety number in 12 groups of 5, their trust status and "Mark verified"."""

    def __init__(self, source: Any, user_id: str, **kwargs: Any):
        self.user_id = user_id
        self.info = widgets.HTML()
        self.number = widgets.HTML()
        self.verify_button = widgets.Button(description="Mark verified", icon="check",
                                            tooltip="Only after comparing all 60 digits with your contact")
        self.verify_button.on_click(lambda _: self.verify())
        self.rows: dict[str, str] = {}
        self.groups: list[str] = []
        self._shown: str | None = None  # the fingerprint the shown number belongs to
        self._cache: tuple[str, str] | None = None
        super().__init__(children=[self.info, self.number, self.verify_button], **kwargs)
        self.add_class("chatkernel-safety-number")
        self._follow(_actor_of(source, "SafetyNumberView"))
        self.refresh()

    def verify(self) -> None:
        """Mark the contact verified for the key whose number is on screen (refused if it changed)."""
        if self._shown is not None:
            fire(self.actor, "VERIFY", user_id=self.user_id, fingerprint=self._shown)

    def _number(self, fingerprint: str) -> str:
        if self._cache is None or self._cache[0] != fingerprint:
            self._cache = (fingerprint, self.service.safety_number(self.user_id))
        return self._cache[1]

    def refresh(self) -> None:
        try:
            contact = self.service.contact(self.user_id)
        except IdentityError as exc:
            self.rows, self.groups, self._shown = {"Contact": self.user_id, "Error": str(exc)}, [], None
            self.info.value, self.number.value = _table(self.rows, {"Error": _STATUS["changed"]}), ""
            self.verify_button.disabled = True
            return
        status = contact["status"]
        self.rows = {"Contact": contact["name"] or contact["userId"], "User id": contact["userId"], "Status": status}
        if status == "changed":
            self.rows["Note"] = "their key changed: accept the new key before comparing numbers"
        self._shown = contact["fingerprint"]
        self.groups = format_safety_number(self._number(contact["fingerprint"])).split()
        lines = [" ".join(self.groups[i:i + 4]) for i in range(0, 12, 4)]
        self.info.value = _table(self.rows, {"Status": _STATUS.get(status, _TEXT), "Note": _STATUS["changed"]})
        self.number.value = (f"<pre style='font-family:{_MONO};font-size:1.3em;letter-spacing:0.05em;"
                             f"color:{_TEXT};border:1px solid {_BORDER};padding:0.5em 1em;display:inline-block'>"
                             + "\n".join(escape(line) for line in lines) + "</pre>")
        self.verify_button.disabled = status != "pinned"

    def __repr__(self) -> str:
        return f"SafetyNumberView(user_id={self.user_id!r}, status={self.rows.get('Status')!r})"
