"""The notifications feature's contract, its errors, an import with no side effects, and a mount
that needs the chat."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import features.notifications as notifications_pkg
from chatkernel import BootError, MissingDependencyError, bootstrap
from features.notifications import errors
from features.notifications import events as ev
from features.notifications._api import ChatAPI, PersistenceAPI
from features.notifications._config import NotificationsConfig

from .conftest import FakeChat, chat_double

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.anyio


def test_contract():
    f = notifications_pkg.feature
    assert notifications_pkg.__all__ == ["feature"]
    assert (f.id, f.name, f.version) == ("notifications", "Notifications", "1.0.0")
    assert list(f.dependencies) == ["persistence", "chat"]
    assert dict(f.requires) == {"persistence": PersistenceAPI, "chat": ChatAPI}
    assert list(f.ui) == ["NotificationCenter"]
    assert f.settings == NotificationsConfig(enabled=True, desktop=True, show_preview=True, toast_seconds=6.0,
                                             max_toasts=5)
    specs = {s.type: s for s in f.emitted_events}
    assert list(specs) == ["NOTIFICATION_SHOWN", "CONVERSATION_MUTED", "NOTIFICATION_CLICKED"]
    assert (specs["NOTIFICATION_SHOWN"].priority.name, dict(specs["NOTIFICATION_SHOWN"].fields)) == \
        ("LOW", {"conversation": str, "id": str, "desktop": bool})
    assert (specs["CONVERSATION_MUTED"].priority.name, dict(specs["CONVERSATION_MUTED"].fields)) == \
        ("MEDIUM", {"conversation": str, "muted": bool})
    assert (specs["NOTIFICATION_CLICKED"].priority.name, dict(specs["NOTIFICATION_CLICKED"].fields)) == \
        ("MEDIUM", {"conversation": str})
    for spec in ev.EMITTED:  # ids and flags: no title, author or body
        assert set(spec.fields) <= {"conversation", "id", "desktop", "muted"} and spec.doc
    assert set(f.subscribed_events) == {"MESSAGE_RECEIVED", "CONVERSATION_OPENED", "CONVERSATION_CLOSED",
                                        "UNREAD_CHANGED", "IDENTITY_LOADED", "IDENTITY_CREATED",
                                        "IDENTITY_FORGOTTEN", "PERSISTENCE_LOCKED", "SETTINGS_LOADED",
                                        "SETTINGS_CHANGED"}


def test_errors_share_one_base_and_are_all_drawn_in_the_docstring():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.NotificationsError)
        assert name in errors.__doc__
    assert errors.__all__ == sorted(errors.__all__) and ev.__all__ == sorted(ev.__all__)


def test_importing_the_package_loads_nothing_heavy():
    probe = """
import sys, threading
before = threading.active_count()
import features.notifications
heavy = [m for m in ("ipywidgets", "anywidget", "features.notifications.service", "features.notifications.machine",
                     "features.notifications.ui") if m in sys.modules]
assert not heavy, heavy
assert threading.active_count() == before
assert features.notifications.feature.ui["NotificationCenter"]().__name__ == "NotificationCenter"
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_the_widget_front_end_ships_in_the_package_and_needs_no_network():
    js = (ROOT / "features" / "notifications" / "toasts.js").read_text(encoding="utf-8")
    assert "export default" in js and "import " not in js and "http" not in js
    assert "innerHTML" not in js and "textContent" in js
    assert "aria-live" in js and "Notification.requestPermission()" in js
    assert 'Notification.permission' in js and "new Notification(" in js
    for line in js.splitlines():  # colours only from JupyterLab's variables (system colours as fallbacks)
        assert "#" not in line.split("//")[0] or "var(" not in line


async def test_the_feature_mounts_only_when_the_chat_exists(identities):
    with pytest.raises(BootError, match="'notifications' depends on 'chat', which is not registered") as caught:
        await bootstrap([*identities.features, notifications_pkg.feature], settings=identities.settings(),
                        strict=True)
    assert isinstance(caught.value.__cause__, MissingDependencyError)
    app = await bootstrap([*identities.features, chat_double(FakeChat()), notifications_pkg.feature],
                          settings=identities.settings(), strict=True)
    try:
        assert app.registry.mount_result("notifications").service is not None
        assert app.actors["notifications"].state == ["locked"]
    finally:
        await app.shutdown()


async def test_a_chat_without_the_promised_service_fails_the_mount(identities):
    class NoPreview:
        def is_open(self, conversation):
            return False

        def unread_counts(self):
            return {}

    from chatkernel import Feature, MountResult

    async def mount(ctx):
        return MountResult(service=NoPreview())

    broken = Feature(id="chat", name="Chat without preview", on_mount=mount,
                     emitted_events=chat_double(FakeChat()).emitted_events)
    app = await bootstrap([*identities.features, broken, notifications_pkg.feature],
                          settings=identities.settings(), strict=True)
    try:
        assert "notifications" in app.report.failed
        assert "preview" in str(app.report.failed["notifications"])
    finally:
        await app.shutdown()


async def test_bad_settings_are_refused_at_boot(identities):
    with pytest.raises(Exception, match="max_toasts"):
        await bootstrap([*identities.features, chat_double(FakeChat()), notifications_pkg.feature],
                        settings=identities.settings(notifications={"max_toasts": "five"}), strict=True)
