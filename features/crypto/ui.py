"""A small status panel: crypto's state, how many sessions and groups it keeps, how many
one-time prekeys are left (on the relay, and locally), and a note on safety numbers.

It reads the machine and the service (counts only, never a key) and redraws when the machine
moves or the feature speaks. Colours come from JupyterLab's CSS variables.
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import Actor, Event, InspectionRecord

from . import events as ev

__all__ = ["CryptoStatus", "SAFETY_NOTE"]

_COLOR = {"ready": "var(--jp-success-color1, green)", "locked": "var(--jp-warn-color1, #a60)"}
_MUTED = "var(--jp-ui-font-color2, #555)"
_TEXT = "var(--jp-ui-font-color1, #000)"
_WARN = "var(--jp-warn-color1, #a60)"
SAFETY_NOTE = ("Messages are end-to-end encrypted. Compare safety numbers with each contact in person or on a "
               "call you trust; a changed key blocks sending until you accept it.")


def _actor_of(source: Any) -> Actor:
    if isinstance(source, Actor):
        return source
    actors = getattr(source, "actors", None)
    if actors is not None and "crypto" in actors:
        return actors["crypto"]
    raise TypeError(f"CryptoStatus needs a booted App with the crypto feature, or its Actor; got {source!r}")


class CryptoStatus(widgets.VBox):
    """State, sessions, groups, prekeys left, and the safety note."""

    def __init__(self, source: Any, **kwargs: Any):
        actor = _actor_of(source)
        self.actor = actor
        self.service = actor.machine.service
        self.table = widgets.HTML()
        self.note = widgets.HTML(f"<div style='color:{_MUTED};font-size:var(--jp-ui-font-size0, 11px);"
                                 f"max-width:32em'>{escape(SAFETY_NOTE)}</div>")
        self.rows: dict[str, str] = {}
        super().__init__(children=[self.table, self.note], **kwargs)
        self.add_class("chatkernel-crypto")
        self._stop_inspecting = actor.system.inspect(self._record)
        bus = actor.system.bus
        self._subscriptions = [bus.subscribe(spec.type, self._heard, owner=actor.feature)
                               for spec in ev.EMITTED] if bus is not None else []
        self.refresh()

    def _record(self, record: InspectionRecord) -> None:
        if record.actor == self.actor.id and record.kind in ("actor.snapshot", "actor.event", "actor.stopped"):
            self.refresh()

    def _heard(self, event: Event) -> None:
        if event.source == self.actor.feature:
            self.refresh()

    @property
    def state(self) -> str:
        if self.actor.status == "stopped":
            return "stopped"
        return ",".join(self.actor.state)

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

        def color(k: str) -> str:
            if k == "State":
                return _COLOR.get(state, _TEXT)
            return _WARN if low and k.startswith("Prekeys left") else _TEXT

        cells = "".join(f"<tr><td style='color:{_MUTED};padding-right:1em'>{escape(k)}</td>"
                        f"<td style='color:{color(k)}'>{escape(v)}</td></tr>" for k, v in rows.items())
        self.table.value = f"<table style='font-family:var(--jp-ui-font-family)'>{cells}</table>"

    def close(self) -> None:
        stop = self.__dict__.pop("_stop_inspecting", None)
        if stop is not None:
            stop()
        for subscription in self.__dict__.get("_subscriptions", ()):
            subscription.cancel()
        self._subscriptions = []
        super().close()

    def __repr__(self) -> str:
        return f"CryptoStatus(state={self.rows.get('State')!r}, sessions={self.rows.get('Sessions')!r})"
