"""SettingsMachine on the kernel's real actor system and bus, without the rest of the app."""

import asyncio
import json

import pytest

from chatkernel import ActorRegistry, EventBus

from features.settings import events as ev
from features.settings.machine import SettingsMachine
from features.settings.service import SettingsService

pytestmark = pytest.mark.anyio


class Harness:
    """The machine on a strict bus that knows the feature's specs, as the kernel would set it up:
    every payload it emits is checked, and priorities come from the specs."""

    def __init__(self, service: SettingsService):
        self.bus = EventBus(strict=True)
        self.bus.catalog.declare("settings", ev.EMITTED)
        self.actors = ActorRegistry(bus=self.bus)
        self.service = service
        self.events: list = []
        self.bus.tap(lambda event, outcome: self.events.append(event) if outcome == "dispatched" else None)
        self.actor = None

    async def start(self) -> "Harness":
        self.actor = await self.actors.spawn(SettingsMachine(self.service), "settings", feature="settings")
        return self

    @property
    def machine(self) -> SettingsMachine:
        return self.actor.machine

    def send(self, event: str, **data) -> None:
        self.actor.send(event, **data)

    async def settle(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                await self.actors.settle()
                await self.bus.drain()
                if not self.machine.busy and self.actor._idle.is_set() and not self.bus.pending:
                    return
                await asyncio.sleep(0.005)

    def said(self, *types: str) -> list[tuple[str, dict]]:
        return [(e.type, dict(e.payload)) for e in self.events if not types or e.type in types]


async def start(state_dir=None, **kw) -> Harness:
    harness = await Harness(SettingsService(state_dir, **kw)).start()
    await harness.settle()
    return harness


def test_the_seed_states_and_commands():
    assert set(SettingsMachine.states_map) == {"loading", "idle", "saving", "testing", "error"}
    assert SettingsMachine.loading.initial
    events = {e.id for e in SettingsMachine.events}
    assert {"SET_THEME", "SET_NOTIFICATIONS", "SET_SIGNALING_URL", "RESET_SIGNALING_URL", "TEST_SIGNALING_URL",
            "RETRY", "APP_READY"} <= events
    assert SettingsMachine.snapshot_fields == ("settings", "last_test", "last_error", "job", "pending")


async def test_loads_then_saves_a_change_and_says_so(tmp_path):
    h = await start(tmp_path)
    assert h.actor.state == ["idle"]
    assert h.said() == [("SETTINGS_LOADED", {"settings": {"theme": "system", "notifications": True,
                                                          "signaling_url": None}})]
    h.send("SET_NOTIFICATIONS", enabled=False)
    await h.settle()
    settings = {"theme": "system", "notifications": False, "signaling_url": None}
    assert h.said("SETTINGS_CHANGED") == [("SETTINGS_CHANGED", {"key": "notifications", "value": False,
                                                                "settings": settings})]
    assert json.loads((tmp_path / "settings.json").read_text())["settings"] == settings
    assert not h.said("SIGNALING_URL_CHANGED")  # the relay URL did not change


async def test_changes_asked_for_while_busy_are_queued_and_applied_in_order(tmp_path):
    h = await start(tmp_path)
    h.send("SET_THEME", theme="dark")
    h.send("SET_THEME", theme="light")
    h.send("SET_SIGNALING_URL", url="https://relay.example.org/")
    h.send("SET_NOTIFICATIONS", enabled=False)
    h.send("SET_THEME", theme="dark")
    await h.settle()
    changed = [(p["key"], p["value"]) for _, p in h.said("SETTINGS_CHANGED")]
    assert changed == [("theme", "dark"), ("theme", "light"), ("signaling_url", "https://relay.example.org"),
                       ("notifications", False), ("theme", "dark")]
    assert h.machine.settings == {"theme": "dark", "notifications": False,
                                  "signaling_url": "https://relay.example.org"}
    assert json.loads((tmp_path / "settings.json").read_text())["settings"] == h.machine.settings


async def test_changes_during_loading_wait_for_the_load(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"version": 1, "settings": {"theme": "light"}}))
    h = await Harness(SettingsService(tmp_path)).start()
    h.send("SET_NOTIFICATIONS", enabled=False)  # arrives while the file is being read
    await h.settle()
    assert [t for t, _ in h.said()] == ["SETTINGS_LOADED", "SETTINGS_CHANGED"]
    assert h.machine.settings == {"theme": "light", "notifications": False, "signaling_url": None}


async def test_bad_commands_are_refused_at_once_even_while_busy(tmp_path):
    h = await start(tmp_path)
    h.send("SET_THEME", theme="dark")
    h.send("SET_THEME", theme="mauve")
    h.send("SET_SIGNALING_URL", url="http://relay.example.org")
    h.send("SET_NOTIFICATIONS")
    await h.settle()
    failed = [p for _, p in h.said("SETTINGS_SAVE_FAILED")]
    assert failed == [
        {"key": "theme", "reason": "'mauve' is not one of 'light', 'dark', 'system'"},
        {"key": "signaling_url", "reason": "plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, "
                                           "localhost), not 'relay.example.org'; use https:// or set "
                                           "allow_insecure_remote"},
        {"key": "notifications", "reason": "SET_NOTIFICATIONS needs a 'enabled' argument"},
    ]
    assert all(e.priority.name == "HIGH" for e in h.events if e.type == "SETTINGS_SAVE_FAILED")
    assert h.machine.settings["theme"] == "dark" and h.machine.settings["signaling_url"] is None


async def test_url_changes_announce_the_effective_url(tmp_path):
    h = await start(tmp_path, default_signaling_url="http://127.0.0.1:9000")
    h.send("SET_SIGNALING_URL", url="https://relay.example.org")
    h.send("SET_SIGNALING_URL", url="https://relay.example.org/")  # same URL: no announcement
    h.send("RESET_SIGNALING_URL")
    h.send("RESET_SIGNALING_URL")
    h.send("SET_SIGNALING_URL", url="http://127.0.0.1:9000")  # pinned, but the same effective URL
    await h.settle()
    assert [p for _, p in h.said("SIGNALING_URL_CHANGED")] == [
        {"url": "https://relay.example.org", "custom": True, "allow_insecure_remote": False},
        {"url": "http://127.0.0.1:9000", "custom": False, "allow_insecure_remote": False},
    ]
    assert all(e.priority.name == "HIGH" for e in h.events if e.type == "SIGNALING_URL_CHANGED")
    assert len(h.said("SETTINGS_CHANGED")) == 5
    assert h.service.custom_signaling_url


async def test_app_ready_during_loading_announces_once_after_the_load(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"version": 1, "settings": {
        "signaling_url": "https://relay.example.org"}}))
    h = await Harness(SettingsService(tmp_path)).start()
    h.send("APP_READY", startup_type="warm")
    await h.settle()
    assert [t for t, _ in h.said()] == ["SETTINGS_LOADED", "SIGNALING_URL_CHANGED"]
    assert h.said("SIGNALING_URL_CHANGED")[0][1] == {"url": "https://relay.example.org", "custom": True,
                                                     "allow_insecure_remote": False}
    h.send("APP_READY")  # a later APP_READY re-announces, whatever the state
    h.send("SET_THEME", theme="dark")
    h.send("APP_READY")
    await h.settle()
    assert len(h.said("SIGNALING_URL_CHANGED")) == 3


async def test_a_test_asked_for_while_saving_runs_afterwards(tmp_path, closed_port_url, relay):
    h = await start(tmp_path, default_signaling_url=relay.url)
    h.send("SET_THEME", theme="dark")
    h.send("TEST_SIGNALING_URL", url=closed_port_url)
    h.send("TEST_SIGNALING_URL")  # the effective URL: the relay
    await h.settle()
    tested = [p for _, p in h.said("SIGNALING_URL_TESTED")]
    assert [(t["url"], t["ok"]) for t in tested] == [(closed_port_url, False), (relay.url, True)]
    assert tested[0]["reason"].startswith("connection refused by ")
    assert h.machine.last_test == tested[1]
    assert [t for t, _ in h.said()][1:] == ["SETTINGS_CHANGED", "SIGNALING_URL_TESTED", "SIGNALING_URL_TESTED"]


async def test_last_test_is_forgotten_when_the_url_moves_elsewhere(relay):
    h = await start(None)
    h.send("TEST_SIGNALING_URL", url=relay.url)
    h.send("SET_SIGNALING_URL", url=relay.url)
    await h.settle()
    assert h.machine.last_test["url"] == relay.url  # tested what is now in use: kept
    h.send("RESET_SIGNALING_URL")
    await h.settle()
    assert h.machine.last_test is None


async def test_a_failed_save_keeps_the_old_value_and_the_next_one_works(tmp_path):
    h = await start(tmp_path)
    (tmp_path / "settings.json").mkdir()
    h.send("SET_THEME", theme="dark")
    await h.settle()
    assert h.actor.state == ["idle"] and h.machine.settings["theme"] == "system"
    assert h.said("SETTINGS_SAVE_FAILED") == [("SETTINGS_SAVE_FAILED", {"key": "theme", "reason": "Is a directory"})]
    assert not h.said("SETTINGS_CHANGED")
    (tmp_path / "settings.json").rmdir()
    h.send("SET_THEME", theme="dark")
    await h.settle()
    assert h.machine.settings["theme"] == "dark"
    assert json.loads((tmp_path / "settings.json").read_text())["settings"]["theme"] == "dark"


async def test_a_corrupt_file_puts_the_machine_in_error_until_retry(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{oops")
    h = await Harness(SettingsService(tmp_path)).start()
    h.send("SET_THEME", theme="dark")  # queued during loading, refused when loading fails
    await h.settle()
    assert h.actor.state == ["error"]
    assert h.machine.last_error.startswith(f"settings file {path} is not valid JSON: ")
    reason = f"settings could not be loaded ({h.machine.last_error}); fix the file, then RETRY"
    assert h.said("SETTINGS_SAVE_FAILED") == [("SETTINGS_SAVE_FAILED", {"key": "theme", "reason": reason})]
    assert [f.error_type for f in h.bus.errors] == ["SettingsFileError"]

    h.send("SET_NOTIFICATIONS", enabled=False)
    h.send("TEST_SIGNALING_URL")
    h.send("APP_READY")
    await h.settle()
    assert h.said("SETTINGS_SAVE_FAILED")[-1][1] == {"key": "notifications", "reason": reason}
    assert h.said("SIGNALING_URL_TESTED")[-1][1]["reason"] == f"not tested: {reason}"
    assert not h.said("SIGNALING_URL_CHANGED") and path.read_text() == "{oops"

    path.write_text(json.dumps({"version": 1, "settings": {"theme": "light"}}))
    h.send("RETRY")
    await h.settle()
    assert h.actor.state == ["idle"] and h.machine.last_error is None
    assert h.said("SETTINGS_LOADED")[-1][1]["settings"]["theme"] == "light"
    assert h.said("SIGNALING_URL_CHANGED") == [("SIGNALING_URL_CHANGED", {"url": "http://127.0.0.1:8765",
                                                                          "custom": False,
                                                                          "allow_insecure_remote": False})]


async def test_snapshot_and_restore_keep_the_context(tmp_path):
    h = await start(tmp_path)
    h.send("SET_SIGNALING_URL", url="https://relay.example.org")
    await h.settle()
    snapshot = h.actor.snapshot()
    assert snapshot["configuration"] == ["idle"]
    assert snapshot["context"] == {
        "settings": {"theme": "system", "notifications": True, "signaling_url": "https://relay.example.org"},
        "last_test": None, "last_error": None, "job": None, "pending": []}
    json.dumps(snapshot)  # JSON-friendly
    h.actors.unregister("settings")

    other = SettingsService(None)
    restored = await h.actors.restore(snapshot, lambda **kw: SettingsMachine(other, **kw), feature="settings")
    assert restored.state == ["idle"] and other.effective_signaling_url == "https://relay.example.org"
