"""A small status panel: crypto's state, how many sessions and groups it keeps, how many
one-time prekeys are left (on the relay, and locally), and a note on safety numbers.

It reads the machine and the service (counts only, never a key) and redraws when the machine
moves or the feature speaks. Colours come from JupyterLab's CSS variables.
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from widgets import FeatureView, feature_actor, kv_table
from widgets import MUTED as _MUTED, SUCCESS as _SUCCESS, TEXT as _TEXT, WARN as _WARN

from . import events as ev

__all__ = ["CryptoStatus", "SAFETY_NOTE"]

_COLOR = {"ready": _SUCCESS, "locked": _WARN}
SAFETY_NOTE = ("Messages are end-to-end encrypted. Compare safety numbers with each contact in person or on a "
               "call you trust; a changed key blocks sending until you accept it.")


class CryptoStatus(FeatureView):
    """State, sessions, groups, prekeys left, and the safety note."""

    def __init__(self, source: Any, **kwargs: Any):
        actor = feature_actor(source, "crypto", "CryptoStatus")
        self.service = actor.machine.service
        self.table = widgets.HTML()
        self.note = widgets.HTML(f"<div style='color:{_MUTED};font-size:var(--jp-ui-font-size0, 11px);"
                                 f"max-width:32em'>{escape(SAFETY_NOTE)}</div>")
        self.rows: dict[str, str] = {}
        super().__init__(children=[self.table, self.note], **kwargs)
        self.add_class("chatkernel-crypto")
        self.follow(actor, ev.EMITTED, redraw_on=("actor.snapshot", "actor.event", "actor.stopped"))
        self.refresh()

    def refresh(self) -> None:
        counts, state = self.service.counts, self.state
        relay = self.service.relay_prekeys

        def count(name: str) -> str:
            return str(counts[name]) if state == "ready" and name in counts else "\u2014"

        rows = {"State": state, "Sessions": count("sessions"), "Groups": count("groups"),
                "Prekeys left (relay)": "unknown" if relay is None else str(relay),
                "Prekeys held (local)": count("one_time_prekeys")}
        self.rows = rows
        low = relay is not None and relay < self.service.config.refill_below

        colors = {"State": _COLOR.get(state, _TEXT), "Prekeys left (relay)": _WARN if low else _TEXT}
        self.table.value = kv_table(rows, colors)

    def __repr__(self) -> str:
        return f"CryptoStatus(state={self.rows.get('State')!r}, sessions={self.rows.get('Sessions')!r})"
