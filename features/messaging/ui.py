"""A small status panel: messaging's state, what it sent, received and dropped, and the relay's
one-time prekey count after the last upload (or why the upload failed). No body, no key."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from widgets import FeatureView, feature_actor, kv_table
from widgets import ERROR as _ERROR, SUCCESS as _SUCCESS, TEXT as _TEXT, WARN as _WARN

from . import events as ev

__all__ = ["MessagingStatus"]

_COLOR = {"ready": _SUCCESS, "locked": _WARN}


class MessagingStatus(FeatureView):
    """State, messages sent / received / dropped, prekeys on the relay."""

    def __init__(self, source: Any, **kwargs: Any):
        actor = feature_actor(source, "messaging", "MessagingStatus")
        self.service = actor.machine.service
        self.table = widgets.HTML()
        self.rows: dict[str, str] = {}
        super().__init__(children=[self.table], **kwargs)
        self.add_class("chatkernel-messaging")
        self.follow(actor, ev.EMITTED, redraw_on=("actor.snapshot", "actor.event", "actor.stopped"))
        self.refresh()

    def refresh(self) -> None:
        stats, error = self.service.stats, self.service.last_upload_error
        relay = stats["relay_prekeys"]
        rows = {"State": self.state, "Sent": str(stats["sent"]), "Received": str(stats["received"]),
                "Dropped (unreadable)": str(stats["unreadable"]),
                "Prekeys on the relay": "not uploaded yet" if relay is None else str(relay)}
        if error is not None:
            rows["Last upload"] = f"failed: {error}"
        self.rows = rows
        colors = {"State": _COLOR.get(self.state, _TEXT), "Last upload": _ERROR,
                  "Dropped (unreadable)": _WARN if stats["unreadable"] else _TEXT}
        self.table.value = kv_table(rows, colors)

    def __repr__(self) -> str:
        return f"MessagingStatus(state={self.rows.get('State')!r}, sent={self.rows.get('Sent')!r})"
