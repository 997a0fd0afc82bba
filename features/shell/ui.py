"""The app's window: a header (who, the connection, unread), the views, docking and commands.

Each view is one of the mounted features' ``ui`` declarations, made the first time its route is
shown (``login``: auth's forms; ``chats``: ChatWindow; ``contacts``: ContactsPanel; ``groups``:
GroupsPanel; ``settings``: SettingsPanel; ``explorer``: the kernel monitor), so a window for a
profile that never opens the settings never builds them. A feature that is not mounted leaves its route out.

``dock(app)`` puts the window in JupyterLab's main area (or ``area="right"``, the sidebar) with
ipylab; it keeps one window per app, so re-running the cell shows the same one, never a second.
``add_commands(app)`` adds "Open chat" and "Open explorer" to the command palette.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import App, Event, fire
from widgets import ERROR as _ERROR
from widgets import MUTED as _MUTED
from widgets import SUCCESS as _SUCCESS
from widgets import TEXT as _TEXT
from widgets import WARN as _WARN
from widgets import FeatureView, feature_actor

from . import events as ev

__all__ = ["AppWindow", "add_commands", "dock"]

log = logging.getLogger("chatkernel.features.shell")

#: route -> the (feature, ui name) it shows, in order
VIEWS: dict[str, tuple[tuple[str, str], ...]] = {
    "login": (("auth", "LoginForm"), ("auth", "SignupForm")),
    "chats": (("chat", "ChatWindow"),),
    "contacts": (("contacts", "ContactsPanel"),),
    "groups": (("groups", "GroupsPanel"),),
    "settings": (("settings", "SettingsPanel"),),
}
_LABELS = {"chats": "Chats", "contacts": "Contacts", "groups": "Groups", "settings": "Settings",
           "explorer": "Explorer"}
_STATE_COLOURS = {"connected": _SUCCESS, "reconnecting": _WARN, "offline": _ERROR}

# JupyterLab's own values for its light and dark themes, set inside the window alone when the
# shell's ``theme`` setting is not ``auto`` (the views use only these variables).
_THEMES = {
    "light": {"--jp-layout-color0": "#ffffff", "--jp-layout-color1": "#ffffff", "--jp-layout-color2": "#eeeeee",
              "--jp-layout-color3": "#bdbdbd", "--jp-ui-font-color0": "rgba(0,0,0,1)",
              "--jp-ui-font-color1": "rgba(0,0,0,0.87)", "--jp-ui-font-color2": "rgba(0,0,0,0.54)",
              "--jp-content-font-color1": "rgba(0,0,0,0.87)", "--jp-border-color1": "#bdbdbd",
              "--jp-border-color2": "#e0e0e0", "--jp-brand-color1": "#1976d2", "--jp-error-color1": "#d32f2f",
              "--jp-success-color0": "#1b5e20", "--jp-warn-color0": "#e65100"},
    "dark": {"--jp-layout-color0": "#111111", "--jp-layout-color1": "#212121", "--jp-layout-color2": "#424242",
             "--jp-layout-color3": "#616161", "--jp-ui-font-color0": "rgba(255,255,255,1)",
             "--jp-ui-font-color1": "rgba(255,255,255,0.87)", "--jp-ui-font-color2": "rgba(255,255,255,0.54)",
             "--jp-content-font-color1": "rgba(255,255,255,1)", "--jp-border-color1": "#616161",
             "--jp-border-color2": "#424242", "--jp-brand-color1": "#1976d2", "--jp-error-color1": "#f44336",
             "--jp-success-color0": "#81c784", "--jp-warn-color0": "#ffb74d"},
}


def _theme_css() -> str:
    rules = []
    for name, values in _THEMES.items():
        body = ";".join(f"{k}:{v}" for k, v in values.items())
        rules.append(f".chatkernel-shell.ck-theme-{name}{{{body};background:var(--jp-layout-color0);"
                     f"color:var(--jp-ui-font-color1)}}")
    return "<style>" + "".join(rules) + "</style>"


class AppWindow(FeatureView):
    """``AppWindow(app)`` in a cell (or ``dock(app)``): the whole app for one profile."""

    def __init__(self, source: Any, **kwargs: Any):
        if not isinstance(source, App):
            raise TypeError(f"AppWindow needs a booted chatkernel App, got {type(source).__name__}")
        self.app = source
        actor = feature_actor(source, "shell", "AppWindow")
        self.header = widgets.HTML()
        self.header.add_class("ck-shell-header")
        self.nav = widgets.ToggleButtons(options=[], style={"button_width": "auto"})
        self.nav.observe(self._navigated, names="value")
        self.problem = widgets.HTML()
        self.body = widgets.Box(layout=widgets.Layout(width="100%", flex_flow="column"))
        self._views: dict[str, widgets.Widget] = {}
        self._drawing = False
        top: list[widgets.Widget] = [widgets.HTML(_theme_css()), self.header, self.nav, self.problem]
        self.center = self._make("notifications", "NotificationCenter")
        if self.center is not None:
            top.append(self.center)
        super().__init__(children=[*top, self.body], **kwargs)
        self.add_class("chatkernel-shell")
        self.layout = widgets.Layout(padding="6px", width="100%")
        self.follow(actor, ev.EMITTED, redraw_on=("actor.snapshot", "actor.event", "actor.stopped"))
        self._follow_identity()
        self.refresh()

    # ------------------------------------------------------------------ views
    def _make(self, feature_id: str, name: str) -> widgets.Widget | None:
        registry = self.app.registry
        if not registry.has(feature_id) or not registry.is_mounted(feature_id):
            return None
        factory = registry.get(feature_id).ui.get(name)
        if factory is None:
            return None
        try:
            return factory()(self.app)  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001 - one broken view must not take the window down
            log.exception("the %s view of %s could not be built", name, feature_id)
            return widgets.HTML(f"<span style='color:{_ERROR}'>{escape(name)} is unavailable: "
                                f"{escape(type(exc).__name__)}: {escape(str(exc))}</span>")

    def view(self, route: str) -> widgets.Widget:
        """The view of ``route``, built the first time it is asked for."""
        if route not in self._views:
            if route == "explorer":
                from widgets import KernelMonitor

                parts: list[widgets.Widget] = [
                    widgets.HTML(f"<div style='color:{_MUTED}'>This app's features, events and actors, live. "
                                 "The explorer notebooks (<code>notebooks/00_kernel_tour.ipynb</code>) "
                                 "show the dependency graph and the event flow.</div>"),
                    KernelMonitor(self.app)]
            else:
                parts = [w for w in (self._make(f, n) for f, n in VIEWS.get(route, ())) if w is not None]
            self._views[route] = widgets.VBox(parts, layout=widgets.Layout(width="100%"))
        return self._views[route]

    def routes(self) -> list[str]:
        """The routes this app can show while signed in (a feature not mounted leaves its own out)."""
        registry = self.app.registry
        return [r for r in _LABELS if r == "explorer" or any(registry.has(f) and registry.is_mounted(f)
                                                            for f, _ in VIEWS[r])]

    def open_conversation(self, conversation: str) -> Any:
        """Show the chats with ``conversation`` open in them; the chat window."""
        if not self.service.signed_in:
            raise RuntimeError("sign in first: there is no conversation to open")
        self.service.navigate("chats")
        chats = self.view("chats").children
        if not chats or not hasattr(chats[0], "show"):
            raise RuntimeError("the chat feature is not mounted in this app")
        chats[0].show(conversation)
        self.refresh()
        return chats[0]

    def _navigated(self, change: dict[str, Any]) -> None:
        if not self._drawing and change["new"] and change["new"] != self.service.route:
            fire(self.actor, "NAVIGATE", route=change["new"])

    # ------------------------------------------------------------------ drawing
    def _follow_identity(self) -> None:
        registry = self.app.registry
        self._identity = registry.mount_result("identity").service if registry.is_mounted("identity") else None

    def _who(self) -> str:
        identity = self._identity
        name = getattr(identity, "display_name", None) or self.service.display_name
        user_id = self.service.user_id
        if user_id is None:
            return f"<span style='color:{_MUTED}'>signed out</span>"
        return (f"<b style='color:{_TEXT}'>{escape(str(name or 'signed in'))}</b> "
                f"<span style='color:{_MUTED};font-family:var(--jp-code-font-family)'>{escape(user_id[:8])}…</span>")

    def refresh(self) -> None:
        service = self.service
        if self.actor.status == "stopped":  # the app was shut down: nothing here works any more
            self.header.value = (f"<div style='color:{_MUTED};font-family:var(--jp-ui-font-family)'>"
                                 "<b style='color:" + _TEXT + "'>chatkernel</b> this app was shut down; "
                                 "boot it again (re-run its cell) to chat</div>")
            self.nav.layout.display = "none"
            self.problem.value = ""
            self.body.children = ()
            if self.center is not None:
                self.center.layout.display = "none"
            return
        theme = getattr(service.config, "theme", "auto")
        for name in _THEMES:
            (self.add_class if theme == name else self.remove_class)(f"ck-theme-{name}")
        state = service.connection["state"]
        unread = service.unread_total
        self.header.value = (
            "<div style='display:flex;gap:1em;align-items:baseline;flex-wrap:wrap;"
            "font-family:var(--jp-ui-font-family)'>"
            f"<span style='color:{_TEXT};font-weight:bold'>chatkernel</span>{self._who()}"
            f"<span role='status' aria-live='polite' style='color:{_STATE_COLOURS.get(state, _MUTED)}'>"
            f"&#9679; {escape(service.connection_text())}</span>"
            + (f"<span style='color:{_TEXT}'><b>{unread}</b> unread</span>" if unread else "")
            + "</div>")
        error = getattr(self.actor.machine, "last_error", None)
        self.problem.value = f"<span style='color:{_ERROR}'>{escape(error)}</span>" if error else ""
        self._drawing = True
        try:
            if service.signed_in:
                options = [(_LABELS[r], r) for r in self.routes()]
                if list(self.nav.options) != options:
                    self.nav.options = options
                self.nav.value = service.route if service.route in dict(options).values() else None
                self.nav.layout.display = ""
            else:
                self.nav.layout.display = "none"
        finally:
            self._drawing = False
        shown = self.view(service.route if service.signed_in else "login")
        if self.body.children != (shown,):
            self.body.children = (shown,)

    def heard(self, event: Event) -> None:
        self.refresh()

    def __repr__(self) -> str:
        return f"AppWindow(route={self.service.route!r}, signed_in={self.service.signed_in})"


# ---------------------------------------------------------------------- JupyterLab
_windows: dict[int, AppWindow] = {}
_panels: dict[int, Any] = {}
_lab: list[Any] = []


def window_for(app: App) -> AppWindow:
    """The one window of ``app`` in this kernel (made on first use)."""
    window = _windows.get(id(app))
    if window is None or window.app is not app:
        window = _windows[id(app)] = AppWindow(app)
    return window


def _frontend() -> Any:
    """ipylab's JupyterFrontEnd and CommandPalette, one each per kernel."""
    from ipylab import JupyterFrontEnd
    from ipylab.commands import CommandPalette

    if not _lab:
        _lab.extend([JupyterFrontEnd(), CommandPalette()])
    return _lab[0]


_MODES = ("split-right", "split-left", "split-bottom", "tab-after", "tab-before")


def dock(app: App, *, area: str = "main", mode: str = "split-right", activate: bool = True,
         title: str | None = None) -> AppWindow:
    """Show the app's window as a JupyterLab panel: in the main area (``mode``: split beside
    the current notebook, or a tab after it) or the right sidebar (``area="right"``); with
    ``activate=False`` it opens without taking the focus. Docking it again (a re-run cell)
    keeps the panel that is open instead of adding another."""
    if area not in ("main", "right"):
        raise ValueError(f"area must be 'main' or 'right', got {area!r}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    from ipylab import Panel
    from ipywidgets import widget_serialization

    window = window_for(app)
    lab = _frontend()
    panel = _panels.get(id(app))
    dom_id = f"chatkernel-{id(app):x}"
    if panel is not None and any(w.get("id") == dom_id for w in lab.shell._widgets):
        return window  # still open in JupyterLab: nothing to add
    if panel is None:
        panel = _panels[id(app)] = Panel([window])
    name = window.service.display_name or getattr(window._identity, "display_name", None)
    panel.title.label = title or (f"Chat: {name}" if name else "Chat")
    panel.title.closable = True
    args = {"mode": mode, "activate": activate} if area == "main" else {"rank": 900, "activate": activate}
    lab.shell.send({"func": "add", "payload": {"serializedWidget": widget_serialization["to_json"](panel, None),
                                               "area": area, "args": args, "id": dom_id}})
    if area == "right" and activate:
        lab.shell.expand_right()
    return window


def add_commands(app: App) -> list[str]:
    """"Open chat" and "Open explorer" in the command palette (category chatkernel), for this
    app; adding them again (a re-run cell) changes nothing. The command ids."""
    lab = _frontend()
    commands = {"chatkernel:open-chat": ("Open chat", "chats"),
                "chatkernel:open-explorer": ("Open explorer", "explorer")}

    def opener(route: str) -> Any:
        def execute(**_: Any) -> None:
            window = dock(app)
            if window.service.signed_in:
                fire(window.actor, "NAVIGATE", route=route)
        return execute

    for command_id, (label, route) in commands.items():
        if command_id in lab.commands._execute_callbacks:
            lab.commands._execute_callbacks[command_id] = opener(route)  # the newest app answers
            continue
        lab.commands.add_command(command_id, opener(route), label=label, caption=f"chatkernel: {label.lower()}")
        _lab[1].add_item(command_id, "chatkernel")
    return list(commands)
