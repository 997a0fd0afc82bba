"""SettingsPanel driven like a user would: set widget values, click buttons, read what it shows."""

import json
from html import escape

import pytest

import features.settings as settings_pkg

pytestmark = pytest.mark.anyio


async def panel_for(boot, *args, **kw):
    s = await boot(*args, **kw)
    panel_class = settings_pkg.feature.ui["SettingsPanel"]()
    return s, panel_class(s.app)


async def test_panel_shows_the_loaded_settings(boot, tmp_path):
    s, panel = await panel_for(boot, tmp_path)
    assert (panel.theme.value, panel.notifications.value, panel.url.value) == ("system", True, "")
    assert panel.url.placeholder == "default: http://127.0.0.1:8765"
    assert panel.state == "idle" and not panel.save_button.disabled
    assert panel.retry_button.layout.display == "none"
    assert repr(panel) == "SettingsPanel(state='idle', theme='system', notifications=True, relay='default')"
    assert panel._repr_mimebundle_()["text/plain"] == repr(panel)
    panel.close()


async def test_picking_a_theme_and_notifications_saves_them(boot, tmp_path):
    s, panel = await panel_for(boot, tmp_path)
    panel.theme.value = "dark"
    panel.notifications.value = False
    await s.settle()
    assert [(p["key"], p["value"]) for p in s.of("SETTINGS_CHANGED")] == [("theme", "dark"),
                                                                          ("notifications", False)]
    assert panel.status_text == "Saved notifications = False"
    assert "Saved notifications = False" in panel.status.value
    saved = json.loads((tmp_path / "settings" / "settings.json").read_text())["settings"]
    assert saved["theme"] == "dark" and saved["notifications"] is False
    assert repr(panel) == "SettingsPanel(state='idle', theme='dark', notifications=False, relay='default')"
    panel.close()


async def test_a_bad_url_shows_the_reason_and_changes_nothing(boot, tmp_path):
    s, panel = await panel_for(boot, tmp_path)
    panel.url.value = "http://relay.example.org?x=1"
    panel.save_button.click()
    await s.settle()
    assert panel.status_text == "Not saved: signaling_url: must not have a query (?...)"
    assert "must not have a query (?...)" in panel.status.value
    assert panel.url.value == "http://relay.example.org?x=1"  # left for the user to correct
    assert s.machine.settings["signaling_url"] is None and not s.of("SETTINGS_CHANGED")
    assert not (tmp_path / "settings" / "settings.json").exists()
    panel.url.value = "<b>x</b>"
    panel.save_button.click()
    await s.settle()
    assert "&lt;b&gt;" in panel.status.value and "<b>" not in panel.status.value
    panel.close()


async def test_save_reset_and_an_empty_field(boot, tmp_path):
    s, panel = await panel_for(boot, tmp_path)
    panel.url.value = " https://relay.example.org/ "
    panel.save_button.click()
    await s.settle()
    assert panel.url.value == "https://relay.example.org"
    assert panel.status_text == "Saved signaling_url = https://relay.example.org"
    assert s.of("SIGNALING_URL_CHANGED")[-1] == {"url": "https://relay.example.org", "custom": True,
                                                 "allow_insecure_remote": False}
    panel.reset_button.click()
    await s.settle()
    assert panel.url.value == "" and panel.status_text == "Saved signaling_url = default (http://127.0.0.1:8765)"
    assert s.of("SIGNALING_URL_CHANGED")[-1] == {"url": "http://127.0.0.1:8765", "custom": False,
                                                 "allow_insecure_remote": False}
    panel.url.value = "https://relay.example.org"
    panel.save_button.click()
    panel.url.value = "   "
    panel.save_button.click()  # empty means the default relay
    await s.settle()
    assert s.machine.settings["signaling_url"] is None and panel.url.value == ""
    panel.close()


async def test_test_button_reports_latency_or_the_reason(boot, relay, closed_port_url):
    s, panel = await panel_for(boot, None)
    assert panel.status_text == "Ready"
    panel.url.value = relay.url
    panel.test_button.click()
    await s.settle()
    [tested] = s.of("SIGNALING_URL_TESTED")
    assert tested["ok"]
    assert panel.latency.value == f"Latency: {tested['latency_ms']:.1f} ms"
    assert panel.status_text == f"\u2713 {relay.url} answers as chat-signaling {tested['version']}"
    assert s.machine.settings["signaling_url"] is None  # testing saves nothing

    panel.url.value = closed_port_url
    panel.test_button.click()
    await s.settle()
    host_port = closed_port_url.removeprefix("http://")
    assert panel.status_text == f"\u2717 {closed_port_url}: connection refused by {host_port}"
    assert panel.latency.value == "Latency: \u2014"
    panel.close()


async def test_the_memory_only_mode_is_visible(boot):
    s, panel = await panel_for(boot, None)
    panel.theme.value = "light"
    await s.settle()
    assert panel.status_text == "Saved theme = light (in memory only: no state directory)"
    panel.close()


async def test_error_state_disables_editing_until_retry(boot, tmp_path):
    path = tmp_path / "settings" / "settings.json"
    path.parent.mkdir()
    path.write_text("[]")
    s, panel = await panel_for(boot, tmp_path)
    assert panel.state == "error"
    assert panel.status_text == f"Settings could not be loaded: settings file {path} holds a JSON array, expected an object"
    assert panel.theme.disabled and panel.save_button.disabled and panel.retry_button.layout.display is None
    path.write_text(json.dumps({"version": 1, "settings": {"theme": "dark", "notifications": False}}))
    panel.retry_button.click()
    await s.settle()
    assert panel.state == "idle" and not panel.theme.disabled and panel.retry_button.layout.display == "none"
    assert (panel.theme.value, panel.notifications.value) == ("dark", False)
    assert panel.status_text == "Settings loaded"
    assert not s.of("SETTINGS_CHANGED")  # showing loaded values sent no commands back
    panel.close()


async def test_close_detaches_and_a_stopped_actor_is_shown(boot, tmp_path):
    s, panel = await panel_for(boot, tmp_path)
    other = settings_pkg.feature.ui["SettingsPanel"]()(s.actor)
    panel.close()
    assert panel._subscriptions == []
    s.actor.send("SET_THEME", theme="dark")
    await s.settle()
    assert panel.status_text == "Ready" and other.status_text == "Saved theme = dark"
    await s.app.registry.unmount("settings")
    assert other.status_text == "Settings are not running" and other.state == "stopped"
    assert repr(other) == "SettingsPanel(state='stopped', theme='dark', notifications=True, relay='default')"
    other.close()


def test_panel_needs_an_app_with_settings_or_its_actor():
    panel_class = settings_pkg.feature.ui["SettingsPanel"]()
    with pytest.raises(TypeError, match="needs a booted App with the settings feature"):
        panel_class(object())


STATUS = "<div class='ck-status ck-status-{kind}' style='color:var(--jp-{var}, currentColor)'>{text}</div>"
COLOR_VAR = {"ok": "success-color0", "info": "ui-font-color1", "error": "error-color1"}


def status_html(*lines):
    """The status widget's markup for (kind, text) lines: a CSS class and a theme variable each."""
    return "".join(STATUS.format(kind=kind, var=COLOR_VAR[kind], text=text) for kind, text in lines)


async def test_a_saved_relay_that_answered_is_green(boot, relay):
    s, panel = await panel_for(boot, None)
    panel.url.value = relay.url
    panel.test_button.click()
    panel.save_button.click()  # queued behind the test: saved once the relay has answered
    await s.settle()
    text = f"Saved signaling_url = {relay.url} (in memory only: no state directory)"
    assert panel.status_text == text and panel.status_kinds == ("ok",)
    assert panel.status.value == status_html(("ok", text))
    assert "ck-settings-status" in panel.status._dom_classes
    panel.close()


async def test_a_saved_relay_that_refuses_is_no_green_saved(boot, tmp_path, closed_port_url):
    s, panel = await panel_for(boot, tmp_path)
    host_port = closed_port_url.removeprefix("http://")
    panel.url.value = closed_port_url
    panel.test_button.click()
    panel.save_button.click()
    await s.settle()
    saved = f"Saved signaling_url = {closed_port_url}"
    problem = f"the relay {closed_port_url} failed its last test: connection refused by {host_port}"
    assert panel.status_text == f"{saved} \u2014 {problem}"
    assert panel.status_kinds == ("info", "error")
    assert panel.status.value == status_html(("info", saved), ("error", problem))
    assert "success-color" not in panel.status.value

    panel.theme.value = "dark"  # any later "Saved" stays neutral while the relay in use refuses
    await s.settle()
    assert panel.status_kinds == ("info", "error")
    assert panel.status_text == f"Saved theme = dark \u2014 {problem}"

    panel.test_button.click()  # the test's own verdict is the whole story: no second line
    await s.settle()
    assert panel.status_text == f"\u2717 {closed_port_url}: connection refused by {host_port}"
    assert panel.status.value == status_html(("error", panel.status_text))
    panel.close()


async def test_a_saved_relay_not_tested_yet_is_neutral(boot, tmp_path):
    s, panel = await panel_for(boot, tmp_path)
    panel.url.value = "https://relay.example.org"
    panel.save_button.click()
    await s.settle()
    assert panel.status.value == status_html(("info", "Saved signaling_url = https://relay.example.org"))
    panel.close()


async def test_an_invalid_url_is_an_error_line(boot, tmp_path):
    s, panel = await panel_for(boot, tmp_path)
    panel.url.value = "ftp://relay.example.org"
    panel.save_button.click()
    await s.settle()
    assert panel.status_text.startswith("Not saved: signaling_url: ") and panel.status_kinds == ("error",)
    assert panel.status.value == status_html(("error", escape(panel.status_text)))
    panel.close()
