"""A small status panel: which profile, in which state, where its file is and how big it is.

It reads the machine and the service and redraws when the machine moves (inspection stream) or
the feature speaks (its events); its one button sends ``LOCK`` through :func:`chatkernel.fire`.
Colours come from JupyterLab's CSS variables, so it reads in light and dark themes.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from chatkernel import fire
from widgets import FeatureView, feature_actor, kv_table
from widgets import ERROR as _ERROR, SUCCESS as _SUCCESS, TEXT as _TEXT

from . import events as ev

__all__ = ["PersistenceStatus"]

_COLOR = {"open": _SUCCESS, "error": _ERROR}


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


class PersistenceStatus(FeatureView):
    """Profile, state, path and size of the profile database, and a Lock button."""

    def __init__(self, source: Any, **kwargs: Any):
        actor = feature_actor(source, "persistence", "PersistenceStatus")
        self.table = widgets.HTML()
        self.lock_button = widgets.Button(description="Lock", icon="lock", tooltip="Close the profile database")
        self.lock_button.on_click(lambda _: fire(self.actor, "LOCK"))
        self.rows: dict[str, str] = {}
        super().__init__(children=[self.table, self.lock_button], **kwargs)
        self.add_class("chatkernel-persistence")
        self.follow(actor, ev.EMITTED)
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the machine and the service."""
        machine, state = self.actor.machine, self.state
        rows = {"Profile": machine.profile or self.service.config.default_profile, "State": state,
                "Path": str(self.service.path), "Size": _size(self.service.size()) if state == "open" else "\u2014"}
        if state == "error" and machine.last_error:
            rows["Error"] = machine.last_error["reason"]
        self.rows = rows
        highlight = _COLOR.get(state, _TEXT)
        self.table.value = kv_table(rows, {"State": highlight, "Error": highlight})
        self.lock_button.disabled = state not in ("open", "error")

    def __repr__(self) -> str:
        return f"PersistenceStatus(profile={self.rows.get('Profile')!r}, state={self.rows.get('State')!r})"
