"""A live view of a running app: bus health, every actor's state, the latest events.

It listens through the bus tap and the actor inspection stream and re-renders at most every
``interval`` seconds on the kernel's loop, so a flood of events costs one redraw, not thousands.
"""

from __future__ import annotations

import asyncio
from collections import deque
from html import escape
from typing import Any

import ipywidgets as W

from chatkernel import App, Event, InspectionRecord

__all__ = ["KernelMonitor"]

_STYLE = (
    "<style>.ck-mon table{border-collapse:collapse;font-size:12px}"
    ".ck-mon td,.ck-mon th{border:1px solid #ddd;padding:2px 6px;text-align:left}"
    ".ck-mon th{background:#f3f3f3}.ck-dropped{color:#b71c1c}</style>"
)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if str(c).startswith('<span') else escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<div class='ck-mon'>{_STYLE}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


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
            W.HTML("<b>Event bus</b>"), self.bus_view,
            W.HTML("<b>Actors</b>"), self.actors_view,
            W.HTML(f"<b>Last {events} events</b>"), self.events_view,
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
            [[r["id"], r["type"], r["feature"] or "", r["parent"] or "", ", ".join(r["state"]), r["status"]]
             for r in self._app.actors.table()])
        self.events_view.value = _table(
            ["id", "type", "priority", "source", "cause", "outcome"],
            [[e.id, e.type, e.priority.name, e.source or "", e.cause or "",
              "<span class='ck-dropped'>dropped</span>" if outcome == "dropped" else outcome]
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
