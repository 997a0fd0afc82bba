"""The settings panel: a view of the settings actor that talks back only through events.

Clicks and edits become commands sent with :func:`chatkernel.fire`; the panel never changes a
setting itself. It redraws from the actor: the inspection stream says when the machine moved
(loading, saving, testing, error) and the feature's own events carry the outcomes (saved,
refused, tested), so what the panel shows is what other features heard. A saved relay URL is
green only once the relay answered its test: while the last test of the relay in use failed, a
second status line says why, in the error colour. A panel follows one actor: after the feature
is unmounted or hot-reloaded, build a new panel.
"""

from __future__ import annotations

from html import escape
from typing import Any, NamedTuple

import ipywidgets as widgets

from chatkernel import Event, fire
from widgets import ERROR, SUCCESS, TEXT, FeatureView, feature_actor

from . import events as ev
from ._validation import THEMES

__all__ = ["SettingsPanel"]

#: a status line's kind -> its text colour; each is shown with the CSS class ``ck-status-<kind>``.
#: Errors (a refusing relay included) use the error colour: no warn shade is readable on white.
_COLOR = {"ok": SUCCESS, "error": ERROR, "info": TEXT}


class _Message(NamedTuple):
    """What the feature last said, as a status line; ``tested`` is the URL a test result is about."""

    kind: str
    text: str
    tested: str | None = None


class SettingsPanel(FeatureView):
    """Theme, notifications and the relay URL (save, reset, test), with a status line.

    ``status_text`` is what the status says (its lines joined by " \u2014 "), ``status_kinds`` the
    kind of each line ("info", "ok", "error"), shown as CSS class ``ck-status-<kind>``.
    """

    def __init__(self, source: Any, **kwargs: Any):
        actor = feature_actor(source, "settings", "SettingsPanel")
        self.actor = actor
        service = actor.machine.service
        self.theme = widgets.Dropdown(options=list(THEMES), description="Theme")
        self.notifications = widgets.Checkbox(description="Notifications", indent=False)
        self.url = widgets.Text(description="Relay URL", placeholder=f"default: {service.default_signaling_url}",
                                layout=widgets.Layout(width="32em"))
        self.save_button = widgets.Button(description="Save", tooltip="Use this relay URL")
        self.reset_button = widgets.Button(description="Reset to default",
                                           tooltip=f"Use {service.default_signaling_url}")
        self.test_button = widgets.Button(description="Test", tooltip="GET <url>/health")
        self.retry_button = widgets.Button(description="Retry", layout=widgets.Layout(display="none"))
        self.latency = widgets.Label("Latency: \u2014")
        self.status = widgets.HTML()
        self.status.add_class("ck-settings-status")
        self.status_text = ""
        self.status_kinds: tuple[str, ...] = ()
        self._message: _Message | None = None
        self._syncing = False
        super().__init__(children=[
            self.theme, self.notifications,
            widgets.HBox([self.url, self.save_button, self.reset_button, self.test_button]),
            widgets.HBox([self.latency, self.retry_button]),
            self.status,
        ], **kwargs)
        self.add_class("chatkernel-settings")

        self.theme.observe(self._theme_picked, names="value")
        self.notifications.observe(self._notifications_picked, names="value")
        self.save_button.on_click(lambda _: self._save_url())
        self.reset_button.on_click(lambda _: fire(self.actor, "RESET_SIGNALING_URL"))
        self.test_button.on_click(lambda _: fire(self.actor, "TEST_SIGNALING_URL", url=self.url.value.strip() or None))
        self.retry_button.on_click(lambda _: fire(self.actor, "RETRY"))

        self.follow(actor, (ev.SETTINGS_LOADED, ev.SETTINGS_CHANGED, ev.SETTINGS_SAVE_FAILED, ev.SIGNALING_URL_TESTED))
        self._show_values(url=True)
        if actor.machine.last_test:
            self._show_test(actor.machine.last_test)
        self.refresh()

    # ------------------------------------------------------------------ user -> actor
    def _theme_picked(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            fire(self.actor, "SET_THEME", theme=change["new"])

    def _notifications_picked(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            fire(self.actor, "SET_NOTIFICATIONS", enabled=bool(change["new"]))

    def _save_url(self) -> None:
        text = self.url.value.strip()
        if text:
            fire(self.actor, "SET_SIGNALING_URL", url=text)
        else:  # an empty field means "the default relay"
            fire(self.actor, "RESET_SIGNALING_URL")

    # ------------------------------------------------------------------ actor -> view
    def heard(self, event: Event) -> None:
        p = event.payload
        persisted = self.actor.machine.service.persisted
        memory = "" if persisted else " (in memory only: no state directory)"
        if event.type == ev.SETTINGS_LOADED.type:
            self._show_values(url=True)
            self._message = _Message("info", f"Settings loaded{memory}")
        elif event.type == ev.SETTINGS_CHANGED.type:
            self._show_values(url=p.get("key") == "signaling_url")
            value = p.get("value")
            shown = f"default ({self.actor.machine.service.default_signaling_url})" if value is None else value
            # A relay URL is only good news once the relay answered; until then "Saved" is neutral.
            good = p.get("key") != "signaling_url" or self._relay_answered()
            self._message = _Message("ok" if good else "info", f"Saved {p.get('key')} = {shown}{memory}")
        elif event.type == ev.SETTINGS_SAVE_FAILED.type:
            self._show_values(url=False)  # the refused text stays in the field, to be corrected
            self._message = _Message("error", f"Not saved: {p.get('key')}: {p.get('reason')}")
        elif event.type == ev.SIGNALING_URL_TESTED.type:
            self._show_test(p)
        self.refresh()

    def _show_values(self, *, url: bool) -> None:
        values = self.actor.machine.settings
        self._syncing = True
        try:
            self.theme.value = values["theme"]
            self.notifications.value = bool(values["notifications"])
            if url:
                self.url.value = values["signaling_url"] or ""
        finally:
            self._syncing = False

    def _show_test(self, result: Any) -> None:
        latency = result.get("latency_ms")
        self.latency.value = f"Latency: {latency:.1f} ms" if isinstance(latency, (int, float)) else "Latency: \u2014"
        if result.get("ok"):
            version = f" {result['version']}" if result.get("version") else ""
            self._message = _Message("ok", f"\u2713 {result.get('url')} answers as chat-signaling{version}",
                                     result.get("url"))
        else:
            self._message = _Message("error", f"\u2717 {result.get('url')}: {result.get('reason')}", result.get("url"))

    def _effective_test(self) -> dict[str, Any] | None:
        """The last test result if it was of the relay URL in use (a test may be of a candidate)."""
        machine = self.actor.machine
        test = machine.last_test
        return test if test and test.get("url") == machine.service.effective_signaling_url else None

    def _relay_answered(self) -> bool:
        test = self._effective_test()
        return bool(test and test.get("ok"))

    def _relay_problem(self) -> str | None:
        """Why the relay in use failed its last test, unless the status already says so."""
        test = self._effective_test()
        if not test or test.get("ok") or (self._message and self._message.tested == test.get("url")):
            return None
        return f"the relay {test.get('url')} failed its last test: {test.get('reason')}"

    def refresh(self) -> None:
        """Redraw the status line and what is enabled from the machine's current state."""
        machine = self.actor.machine
        state = self.state
        job = machine.job or {}
        if not self.actor.running:
            kind, text = "info", "Settings are not running"
        elif state == "loading":
            kind, text = "info", "Loading settings\u2026"
        elif state == "error":
            kind, text = "error", f"Settings could not be loaded: {machine.last_error}"
        elif state == "saving":
            kind, text = "info", f"Saving {job.get('key')}\u2026"
        elif state == "testing":
            kind, text = "info", f"Testing {job.get('url') or machine.service.effective_signaling_url}\u2026"
        else:
            kind, text, _ = self._message or _Message("info", "Ready")
        lines = [(kind, text)]
        problem = self._relay_problem() if state == "idle" else None
        if problem:  # a "Saved" of anything must not read as all is well while the relay refuses
            lines = [("info" if kind == "ok" else kind, text), ("error", problem)]
        editable = self.actor.running and state not in ("loading", "error")
        for control in (self.theme, self.notifications, self.url, self.save_button, self.reset_button,
                        self.test_button):
            control.disabled = not editable
        self.retry_button.layout.display = None if state == "error" else "none"
        self.status_text = " \u2014 ".join(line for _, line in lines)
        self.status_kinds = tuple(k for k, _ in lines)
        self.status.value = "".join(
            f"<div class='ck-status ck-status-{k}' style='color:{_COLOR[k]}'>{escape(line)}</div>"
            for k, line in lines)

    @property
    def state(self) -> str:
        """The machine's state, or ``"stopped"`` once the actor has been stopped."""
        if self.actor.status == "stopped":
            return "stopped"
        configuration = self.actor.state
        return configuration[0] if len(configuration) == 1 else ",".join(configuration)

    def __repr__(self) -> str:
        values = self.actor.machine.settings
        relay = values["signaling_url"] or "default"
        return (f"SettingsPanel(state={self.state!r}, theme={values['theme']!r}, "
                f"notifications={values['notifications']}, relay={relay!r})")
