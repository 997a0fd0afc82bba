"""A small status panel: which profile, in which state, where its file is and how big it is.

It reads the machine and the service and redraws when the machine moves (inspection stream) or
the feature speaks (its events); its one button sends ``LOCK`` through :func:`chatkernel.fire`.
Colours come from JupyterLab's CSS variables, so it reads in light and dark themes.
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import Actor, Event, InspectionRecord, fire

from . import events as ev

__all__ = ["PersistenceStatus"]

_COLOR = {"open": "var(--jp-success-color1, green)", "error": "var(--jp-error-color1, #c00)"}
_MUTED = "var(--jp-ui-font-color2, #555)"
_TEXT = "var(--jp-ui-font-color1, #000)"


def _actor_of(source: Any) -> Actor:
    if isinstance(source, Actor):
        return source
    actors = getattr(source, "actors", None)
    if actors is not None and "persistence" in actors:
        return actors["persistence"]
    raise TypeError(f"PersistenceStatus needs a booted App with the persistence feature, or its Actor; got {source!r}")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


class PersistenceStatus(widgets.VBox):
    """Profile, state, path and size of the profile database, and a Lock button."""

    def __init__(self, source: Any, **kwargs: Any):
        actor = _actor_of(source)
        self.actor = actor
        self.service = actor.machine.service
        self.table = widgets.HTML()
        self.lock_button = widgets.Button(description="Lock", icon="lock", tooltip="Close the profile database")
        self.lock_button.on_click(lambda _: fire(self.actor, "LOCK"))
        self.rows: dict[str, str] = {}
        super().__init__(children=[self.table, self.lock_button], **kwargs)
        self.add_class("chatkernel-persistence")
        self._stop_inspecting = actor.system.inspect(self._record)
        bus = actor.system.bus
        self._subscriptions = [bus.subscribe(spec.type, self._heard, owner=actor.feature)
                               for spec in ev.EMITTED] if bus is not None else []
        self.refresh()

    def _record(self, record: InspectionRecord) -> None:
        if record.actor == self.actor.id and record.kind in ("actor.snapshot", "actor.stopped"):
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
        """Redraw from the machine and the service."""
        machine, state = self.actor.machine, self.state
        rows = {"Profile": machine.profile or self.service.config.default_profile, "State": state,
                "Path": str(self.service.path), "Size": _size(self.service.size()) if state == "open" else "\u2014"}
        if state == "error" and machine.last_error:
            rows["Error"] = machine.last_error["reason"]
        self.rows = rows
        cells = "".join(
            f"<tr><td style='color:{_MUTED};padding-right:1em'>{escape(k)}</td>"
            f"<td style='color:{_COLOR.get(state, _TEXT) if k in ('State', 'Error') else _TEXT}'>{escape(v)}</td></tr>"
            for k, v in rows.items())
        self.table.value = f"<table style='font-family:var(--jp-ui-font-family)'>{cells}</table>"
        self.lock_button.disabled = state not in ("open", "error")

    def close(self) -> None:
        """Detach from the actor and the bus (also reached from ``__del__``, maybe half-built)."""
        stop = self.__dict__.pop("_stop_inspecting", None)
        if stop is not None:
            stop()
        for subscription in self.__dict__.get("_subscriptions", ()):
            subscription.cancel()
        self._subscriptions = []
        super().close()

    def __repr__(self) -> str:
        return f"PersistenceStatus(profile={self.rows.get('Profile')!r}, state={self.rows.get('State')!r})"
