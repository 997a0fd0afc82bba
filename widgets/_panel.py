"""What every feature's panel shares: finding its actor, following it live, detaching cleanly,
and a key/value table in JupyterLab's theme colours.

A panel takes a booted ``App`` (or the feature's ``Actor``), redraws when the actor's state
changes or its feature says something on the bus, and lets go of both when closed, including
from ``__del__`` on a half-built widget. Colours are JupyterLab CSS variables whose fallbacks
follow the host's text colour, so the same markup reads in the light and the dark theme, in
JupyterLab and elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import Actor, Event, EventSpec, InspectionRecord

__all__ = ["BORDER", "ERROR", "FeatureView", "MONO", "MUTED", "SUCCESS", "TEXT", "WARN", "feature_actor", "kv_table"]

# Fallbacks follow the host's text colour (currentColor), never a light-theme colour: a host
# without JupyterLab's variables may well be dark. The shades are those with WCAG AA contrast
# (4.5:1) on the notebook background in JupyterLab Light and Dark (--jp-success-color1 has only
# 4.1:1 on white). No warn shade reaches it on white (--jp-warn-color0: 3.8:1), so WARN only
# highlights text that states the problem itself.
MUTED = "var(--jp-ui-font-color2, currentColor)"
TEXT = "var(--jp-ui-font-color1, currentColor)"
SUCCESS = "var(--jp-success-color0, currentColor)"
WARN = "var(--jp-warn-color0, currentColor)"
ERROR = "var(--jp-error-color1, currentColor)"
BORDER = "var(--jp-border-color1, currentColor)"
MONO = "var(--jp-code-font-family, monospace)"

_REDRAW_ON = ("actor.snapshot", "actor.stopped")


def feature_actor(source: Any, feature_id: str, widget: str) -> Actor:
    """``source`` itself if it is an Actor, else the booted App's actor of ``feature_id``."""
    if isinstance(source, Actor):
        return source
    actors = getattr(source, "actors", None)
    if actors is not None and feature_id in actors:
        return actors[feature_id]  # type: ignore[no-any-return]
    raise TypeError(f"{widget} needs a booted App with the {feature_id} feature, or its Actor; got {source!r}")


def kv_table(rows: Mapping[str, str], colors: Mapping[str, str] | None = None, *, wrap: bool = False) -> str:
    """Rows as an HTML table, every key and value escaped; ``colors`` picks a value's colour."""
    colors = colors or {}
    value_style = ";word-break:break-all" if wrap else ""
    cells = "".join(
        f"<tr><td style='color:{MUTED};padding-right:1em;vertical-align:top'>{escape(key)}</td>"
        f"<td style='color:{colors.get(key, TEXT)}{value_style}'>{escape(value)}</td></tr>"
        for key, value in rows.items()
    )
    return f"<table style='font-family:var(--jp-ui-font-family)'>{cells}</table>"


class FeatureView(widgets.VBox):
    """A panel bound to one feature's actor. Subclasses build their children, call
    :meth:`follow`, and define :meth:`refresh` (and :meth:`heard` to react to an event)."""

    def follow(self, actor: Actor, emitted: Iterable[EventSpec], *, inspect: bool = True,
               redraw_on: tuple[str, ...] = _REDRAW_ON) -> None:
        """Start redrawing on the actor's inspection records of the kinds ``redraw_on`` (when
        ``inspect``) and on the feature's events ``emitted``."""
        self.actor = actor
        self.service = actor.machine.service
        self._redraw_on = redraw_on
        if inspect:
            self._stop_inspecting = actor.system.inspect(self._record)
        bus = actor.system.bus
        self._subscriptions = [bus.subscribe(spec.type, self._heard, owner=actor.feature)
                               for spec in emitted] if bus is not None else []

    @property
    def state(self) -> str:
        """The actor's state configuration, or "stopped"."""
        if self.actor.status == "stopped":
            return "stopped"
        return ",".join(self.actor.state)

    def refresh(self) -> None:
        """Redraw; the base draws nothing."""

    def heard(self, event: Event) -> None:
        """The feature said something; by default, redraw."""
        self.refresh()

    def _record(self, record: InspectionRecord) -> None:
        if record.actor == self.actor.id and record.kind in self._redraw_on:
            self._safely(self.refresh)

    def _heard(self, event: Event) -> None:
        if event.source == self.actor.feature:
            self._safely(self.heard, event)

    @staticmethod
    def _safely(fn: Any, *args: Any) -> None:
        # Listeners must not raise: an exception would reach the bus or the inspection stream.
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        """Detach from the actor and the bus (also reached from ``__del__``, maybe half-built)."""
        stop = self.__dict__.pop("_stop_inspecting", None)
        if stop is not None:
            stop()
        for subscription in self.__dict__.get("_subscriptions", ()):
            subscription.cancel()
        self._subscriptions = []
        super().close()
