"""A live view of a running app: bus health, every actor's state, the latest events.

It listens through the bus tap and the actor inspection stream and re-renders at most every
``interval`` seconds on the kernel's loop, so a flood of events costs one redraw, not thousands.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass
from html import escape
from typing import Any

import ipywidgets as W

from chatkernel import App, Event, InspectionRecord

__all__ = ["KernelMonitor", "Styled"]

# JupyterLab theme variables. Each fallback follows the host's own colours (its text colour, no
# background of ours) instead of a light-theme colour: a light fallback (#f3f3f3) won wherever a
# variable was missing while the text followed a dark theme, leaving white on light grey.
_STYLE = (
    "<style>.ck-mon table{border-collapse:collapse;font-size:12px;color:var(--jp-ui-font-color1, currentColor)}"
    ".ck-mon td,.ck-mon th{border:1px solid var(--jp-border-color2, currentColor);padding:2px 6px;text-align:left}"
    ".ck-mon th{background:var(--jp-layout-color2, transparent);color:var(--jp-ui-font-color0, currentColor)}"
    ".ck-mon .ck-dropped{color:var(--jp-error-color1, currentColor);font-weight:bold}</style>"
)
_TITLE_STYLE = "color:var(--jp-ui-font-color0, currentColor)"

_CSS_CLASS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _esc(value: object) -> str:
    """Every dynamic value the monitor renders goes through here: text and attribute values."""
    return escape(str(value), quote=True)


@dataclass(frozen=True, slots=True)
class Styled:
    """A table cell with markup: ``text`` (escaped) in a ``<span>`` of a CSS class.

    The only way to put markup in a cell; strings are always escaped, whatever they start with.
    """

    text: str
    css_class: str

    def __post_init__(self) -> None:
        if not isinstance(self.css_class, str) or not _CSS_CLASS.match(self.css_class):
            raise ValueError(f"css_class must be a plain CSS class name, got {self.css_class!r}")

    def html(self) -> str:
        return f'<span class="{_esc(self.css_class)}">{_esc(self.text)}</span>'


def _cell(value: object) -> str:
    return value.html() if isinstance(value, Styled) else _esc(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="ck-mon">{_STYLE}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _title(text: str) -> W.HTML:
    """A section title in the theme's strongest text colour (not the widget label's default)."""
    return W.HTML(f'<b class="ck-mon-title" style="{_TITLE_STYLE}">{_esc(text)}</b>')


class KernelMonitor(W.VBox):
    """``KernelMonitor(app)`` in a cell shows the app live; ``close()`` detaches it."""

    _detach: list[Any] = []
    _pending: asyncio.TimerHandle | None = None

    def __init__(self, app: App, *, events: int = 12, interval: float = 0.1):
        if not isinstance(app, App):
            raise TypeError(f"KernelMonitor needs a chatkernel App, got {type(app).__name__}")
        if not isinstance(events, int) or events < 1:
            raise ValueError(f"events must be a positive int, got {events!r}")
        self._app = app
        self._interval = interval
        self._recent: deque[tuple[Event, str]] = deque(maxlen=events)
        self._pending: asyncio.TimerHandle | None = None
        self.bus_view = W.HTML()
        self.actors_view = W.HTML()
        self.events_view = W.HTML()
        super().__init__([
            _title("Event bus"), self.bus_view,
            _title("Actors"), self.actors_view,
            _title(f"Last {events} events"), self.events_view,
        ])
        self._detach = [app.bus.tap(self._on_event), app.actors.inspect(self._on_record)]
        self.refresh()

    def _on_event(self, event: Event, outcome: str) -> None:
        if outcome != "dispatched":
            self._recent.append((event, outcome))
            self._schedule()

    def _on_record(self, record: InspectionRecord) -> None:
        if record.kind != "actor.event":
            self._schedule()

    def _schedule(self) -> None:
        if self._pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.refresh()
            return
        self._pending = loop.call_later(self._interval, self.refresh)

    def refresh(self) -> None:
        """Re-render now (also what the throttled updates call)."""
        self._pending = None
        stats = self._app.bus.stats()
        self.bus_view.value = _table(
            ["priority", "processed", "dropped", "queued", "peak", "limit"], [list(r) for r in stats._rows()])
        self.actors_view.value = _table(
            ["actor", "type", "feature", "parent", "state", "status"],
            [[r["id"], r["type"], r["feature"] or "", r["parent"] or "", ", ".join(map(str, r["state"])), r["status"]]
             for r in self._app.actors.table()])
        self.events_view.value = _table(
            ["id", "type", "priority", "source", "cause", "outcome"],
            [[e.id, e.type, e.priority.name, e.source or "", e.cause or "",
              Styled("dropped", "ck-dropped") if outcome == "dropped" else outcome]
             for e, outcome in reversed(self._recent)])

    def close(self) -> None:
        for detach in self._detach:
            detach()
        self._detach = []
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        super().close()

    def __repr__(self) -> str:
        return f"KernelMonitor({len(self._app.actors)} actors, {len(self._recent)} recent events)"
