"""The settings feature booted by the kernel: contract, persistence across reboots, announcements."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from chatkernel import BootError, Feature, FeatureContractError, MountResult, bootstrap

import features.settings as settings_pkg
from features.settings import events as ev
from features.settings._config import SettingsConfig

from .conftest import settle_machine

ROOT = Path(__file__).resolve().parents[3]


def test_contract():
    f = settings_pkg.feature
    assert settings_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version, f.dependencies) == ("settings", "Settings", "1.0.0", ())
    assert f.subscribed_events == ("APP_READY",)
    assert f.emitted_types == ("SETTINGS_LOADED", "SETTINGS_CHANGED", "SIGNALING_URL_CHANGED",
                               "SIGNALING_URL_TESTED", "SETTINGS_SAVE_FAILED")
    assert f.settings == SettingsConfig()
    assert dataclasses.asdict(f.settings) == {"default_signaling_url": "http://127.0.0.1:8765",
                                              "test_timeout_s": 3.0, "allow_insecure_remote": False}
    assert dict(ev.SIGNALING_URL_CHANGED.fields) == {"url": str, "custom": bool, "allow_insecure_remote": bool}
    assert ev.SIGNALING_URL_CHANGED.priority.name == "HIGH"
    assert list(f.ui) == ["SettingsPanel"] and f.on_unmount is not None
    assert ev.EMITTED == f.emitted_events and ev.SUBSCRIBED == f.subscribed_events


def test_importing_the_package_loads_the_heavy_parts_only_when_asked():
    """No threads or logs on import is checked for every package in tests/architecture."""
    probe = """
import sys
import features.settings
heavy = [m for m in ("httpx", "ipywidgets", "features.settings.service", "features.settings.machine",
                     "features.settings.ui") if m in sys.modules]
assert not heavy, heavy
panel = features.settings.feature.ui["SettingsPanel"]()
assert panel.__name__ == "SettingsPanel" and "ipywidgets" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


pytestmark = pytest.mark.anyio


async def test_boot_loads_defaults_and_announces_the_url_once_on_app_ready(boot, tmp_path):
    s = await boot(tmp_path)
    assert s.state == ["idle"]
    assert s.of("SETTINGS_LOADED") == [{"settings": {"theme": "system", "notifications": True,
                                                      "signaling_url": None}}]
    assert s.of("SIGNALING_URL_CHANGED") == [{"url": "http://127.0.0.1:8765", "custom": False,
                                              "allow_insecure_remote": False}]
    announced = next(e for e in s.events if e.type == "SIGNALING_URL_CHANGED")
    assert announced.source == "settings" and announced.priority.name == "HIGH"
    assert s.service.path == tmp_path / "settings" / "settings.json"
    assert not s.of("FEATURE_ERROR")


async def test_a_change_survives_a_reboot(boot, tmp_path):
    s = await boot(tmp_path)
    s.actor.send("SET_THEME", theme="dark")
    s.actor.send("SET_SIGNALING_URL", url="https://relay.example.org")
    await s.settle()
    path = tmp_path / "settings" / "settings.json"
    assert json.loads(path.read_text())["settings"] == {"theme": "dark", "notifications": True,
                                                       "signaling_url": "https://relay.example.org"}
    await s.app.shutdown()

    again = await boot(tmp_path)
    assert again.machine.settings["theme"] == "dark"
    assert again.of("SIGNALING_URL_CHANGED") == [{"url": "https://relay.example.org", "custom": True,
                                                  "allow_insecure_remote": False}]


async def test_configured_default_url_and_memory_only_mode(boot, relay):
    s = await boot(None, default_signaling_url=relay.url + "/")
    assert not s.service.persisted
    assert s.of("SIGNALING_URL_CHANGED") == [{"url": relay.url, "custom": False, "allow_insecure_remote": False}]
    s.actor.send("TEST_SIGNALING_URL")
    s.actor.send("SET_NOTIFICATIONS", enabled=False)
    await s.settle()
    [tested] = s.of("SIGNALING_URL_TESTED")
    assert tested["ok"] and tested["url"] == relay.url and tested["version"]
    assert isinstance(tested["latency_ms"], float)
    assert s.of("SETTINGS_CHANGED")[0]["settings"]["notifications"] is False


async def test_a_bad_configured_default_url_fails_the_mount_with_the_reason(tmp_path):
    app = await bootstrap([settings_pkg.feature], settings={"settings": {"default_signaling_url": "ftp://x"}})
    assert app.degraded
    assert app.report.failed["settings"] == ("on_mount raised InvalidSettingError: invalid default_signaling_url: "
                                             "scheme must be http or https, got 'ftp'")
    await app.shutdown()


async def test_the_insecure_remote_switch_travels_with_every_url_announcement(boot, tmp_path):
    s = await boot(tmp_path, default_signaling_url="http://relay.example.org", allow_insecure_remote=True)
    assert s.of("SIGNALING_URL_CHANGED") == [{"url": "http://relay.example.org", "custom": False,
                                              "allow_insecure_remote": True}]
    s.actor.send("SET_SIGNALING_URL", url="http://10.0.0.1:8765")
    await s.settle()
    assert s.of("SIGNALING_URL_CHANGED")[-1] == {"url": "http://10.0.0.1:8765", "custom": True,
                                                 "allow_insecure_remote": True}
    assert not s.of("SETTINGS_SAVE_FAILED") and not s.of("FEATURE_ERROR")


async def test_without_the_switch_a_remote_http_url_is_refused_and_not_announced(boot, tmp_path):
    s = await boot(tmp_path)
    s.actor.send("SET_SIGNALING_URL", url="http://10.0.0.1:8765")
    await s.settle()
    [failed] = s.of("SETTINGS_SAVE_FAILED")
    assert failed["key"] == "signaling_url" and failed["reason"].startswith("plain http:// is only allowed")
    assert s.of("SIGNALING_URL_CHANGED") == [{"url": "http://127.0.0.1:8765", "custom": False,
                                              "allow_insecure_remote": False}]


@pytest.mark.parametrize(("override", "key"), [
    ({"test_timeout_s": "3"}, "test_timeout_s"),
    ({"allow_insecure_remote": "yes"}, "allow_insecure_remote"),
    ({"default_signaling_url": None}, "default_signaling_url"),
    ({"theme": "dark"}, "theme"),  # a user setting, kept in the settings file, not a feature setting
])
async def test_an_unknown_or_mistyped_override_is_refused_at_boot(override, key):
    with pytest.raises(BootError) as info:
        await bootstrap([settings_pkg.feature], settings={"settings": override})
    assert "settings" in str(info.value) and key in str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, FeatureContractError) and (cause.feature_id, cause.key) == ("settings", key)


async def test_a_corrupt_file_is_reported_and_never_overwritten(boot, tmp_path):
    path = tmp_path / "settings" / "settings.json"
    path.parent.mkdir()
    path.write_text('{"version": 1, "settings": {"theme": 7}}')
    s = await boot(tmp_path)
    assert s.state == ["error"]
    assert s.machine.last_error == f"settings file {path} has an invalid theme: 7 is not one of 'light', 'dark', 'system'"
    assert [e["feature"] for e in s.of("FEATURE_ERROR")] == ["settings"]
    assert not s.of("SIGNALING_URL_CHANGED")  # no URL is announced from settings that failed to load
    s.actor.send("SET_THEME", theme="dark")
    await s.settle()
    assert s.of("SETTINGS_SAVE_FAILED")[0]["key"] == "theme"
    assert path.read_text() == '{"version": 1, "settings": {"theme": 7}}'

    path.write_text('{"version": 1, "settings": {"theme": "dark"}}')
    s.actor.send("RETRY")
    await s.settle()
    assert s.state == ["idle"] and s.machine.settings["theme"] == "dark"
    assert s.of("SIGNALING_URL_CHANGED") == [{"url": "http://127.0.0.1:8765", "custom": False,
                                              "allow_insecure_remote": False}]


async def test_a_save_failure_is_reported_and_the_old_value_kept(boot, tmp_path):
    s = await boot(tmp_path)
    s.actor.send("SET_THEME", theme="light")
    await s.settle()
    path = tmp_path / "settings" / "settings.json"
    before = path.read_bytes()
    path.unlink()
    path.mkdir()  # the next write cannot replace it
    s.actor.send("SET_THEME", theme="dark")
    await s.settle()
    assert s.of("SETTINGS_SAVE_FAILED") == [{"key": "theme", "reason": "Is a directory"}]
    assert s.machine.settings["theme"] == "light" and s.state == ["idle"]
    path.rmdir()
    path.write_bytes(before)
    await s.app.shutdown()
    again = await boot(tmp_path)
    assert again.machine.settings["theme"] == "light"


async def test_a_feature_mounted_after_settings_learns_the_url(tmp_path):
    heard = []
    consumer = Feature(id="consumer", name="Consumer", dependencies=["settings"],
                       subscribed_events=["SIGNALING_URL_CHANGED"],
                       on_mount=lambda ctx: MountResult(handler=lambda e: heard.append(dict(e.payload))))
    path = tmp_path / "settings" / "settings.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"version": 1, "settings": {"signaling_url": "https://relay.example.org"}}))
    app = await bootstrap([consumer, settings_pkg.feature], state_dir=tmp_path)
    try:
        await settle_machine(app, app.actors["settings"].machine)
        assert heard == [{"url": "https://relay.example.org", "custom": True, "allow_insecure_remote": False}]
    finally:
        await app.shutdown()


async def test_unmount_stops_the_actor_and_drops_the_subscription(boot, tmp_path):
    s = await boot(tmp_path)
    await s.app.registry.unmount("settings")
    assert "settings" not in s.app.actors
    s.app.dispatch("APP_READY", {"startup_type": "warm", "degraded": False, "mounted": ["recorder"]})
    await s.app.settle()
    assert len(s.of("SIGNALING_URL_CHANGED")) == 1
    assert not s.of("FEATURE_ERROR")
