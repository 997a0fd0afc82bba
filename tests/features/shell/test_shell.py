"""The shell: routes that follow signing in and out (and a picked group), the header's profile
and connection state, views built lazily from the mounted features' ui, docking and palette
commands through ipylab."""

from __future__ import annotations

import asyncio

import pytest

import features.auth
import features.chat
import features.contacts
import features.crypto
import features.groups
import features.messaging
import features.notifications
import features.settings
import features.shell
import features.signaling
from chatkernel import bootstrap
from features.shell import ui as shell_ui
from features.shell.errors import SignedOutError, UnknownRouteError
from features.shell.service import ShellService

pytestmark = pytest.mark.anyio

FAST = {"poll_timeout_s": 1.0, "backoff_base_s": 0.02, "backoff_cap_s": 0.2}


async def _boot(identities, relay, **settings):
    return await bootstrap([*identities.features, features.crypto.feature, features.auth.feature,
                            features.settings.feature, features.signaling.feature, features.messaging.feature,
                            features.contacts.feature, features.groups.feature, features.chat.feature,
                            features.notifications.feature, features.shell.feature],
                           settings=identities.settings(signaling={"url": relay.url, **FAST},
                                                        settings={"default_signaling_url": relay.url}, **settings))


async def _until(predicate, timeout=10.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_the_window_follows_sign_in_routes_and_the_connection(identities, relay):
    app = await _boot(identities, relay)
    try:
        window = shell_ui.AppWindow(app)
        shell = app.registry.mount_result("shell").service
        assert shell.route == "login" and window.nav.layout.display == "none"
        assert [type(w).__name__ for w in window.body.children[0].children] == ["LoginForm", "SignupForm"]
        assert "signed out" in window.header.value
        assert "ChatWindow" not in {type(w).__name__ for v in window._views.values() for w in v.children}

        await identities.sign_up(app, "Alice <b>")
        await _until(lambda: shell.connection["state"] == "connected")
        await app.settle()
        assert shell.route == "chats" and [type(w).__name__ for w in window.body.children[0].children] == \
            ["ChatWindow"]
        assert "Alice &lt;b&gt;" in window.header.value and "connected to http://127.0.0.1" in window.header.value
        assert [value for _, value in window.nav.options] == ["chats", "contacts", "groups", "settings", "explorer"]

        window.nav.value = "contacts"  # a click on the button
        await _until(lambda: shell.route == "contacts")
        await app.settle()
        assert [type(w).__name__ for w in window.body.children[0].children] == ["ContactsPanel"]
        window.nav.value = "groups"
        await _until(lambda: shell.route == "groups")
        await app.settle()
        assert [type(w).__name__ for w in window.body.children[0].children] == ["GroupsPanel"]
        # the user picked a group (the groups feature says so): the chats show it
        app.bus.dispatch("GROUP_SELECTED", {"group": "group:" + "0" * 32}, source="groups")
        await _until(lambda: shell.route == "chats")
        await app.settle()
        assert [type(w).__name__ for w in window.body.children[0].children] == ["ChatWindow"]
        window.nav.value = "explorer"
        await _until(lambda: shell.route == "explorer")
        await app.settle()
        assert "KernelMonitor" in [type(w).__name__ for w in window.body.children[0].children]

        await relay.stop()
        await _until(lambda: shell.connection["state"] == "reconnecting", timeout=20)
        await app.settle()
        assert "reconnecting, next try in" in window.header.value

        app.registry.mount_result("identity").service.forget()
        await _until(lambda: shell.route == "login")
        await app.settle()
        assert window.nav.layout.display == "none" and "signed out" in window.header.value
        await app.shutdown()
        assert "this app was shut down" in window.header.value and window.body.children == ()
        assert window.center.layout.display == "none"
    finally:
        await app.shutdown()


def test_navigation_is_checked():
    said = []
    shell = ShellService(emit=lambda spec, payload: said.append((spec.type, payload)))
    with pytest.raises(SignedOutError):
        shell.navigate("chats")
    with pytest.raises(UnknownRouteError, match="login, chats, contacts, groups, settings, explorer"):
        shell.navigate("../etc")
    shell.signed_in_as("u" * 32, display_name="Alice")
    assert shell.route == "chats" and said == [("SHELL_NAVIGATED", {"route": "chats"})]
    assert shell.navigate("login") == "chats"  # signed in: the login is not a place to go
    shell.lost("http://127.0.0.1:1", "refused", 3.0, 1)
    assert shell.connection_text().startswith("reconnecting, next try in 3 s (try 2): refused")
    shell.unread_changed("c" * 32, 2)
    shell.unread_changed("d" * 32, True)  # not a count
    assert shell.unread_total == 2
    shell.signed_out()
    assert (shell.route, shell.unread_total, shell.user_id) == ("login", 0, None)


async def test_dock_and_commands_talk_to_jupyterlab_once(identities, relay, monkeypatch):
    app = await _boot(identities, relay)
    sent = []
    try:
        monkeypatch.setattr(shell_ui, "_lab", [])
        monkeypatch.setattr(shell_ui, "_windows", {})
        monkeypatch.setattr(shell_ui, "_panels", {})
        lab = shell_ui._frontend()
        monkeypatch.setattr(lab.shell, "send", lambda msg, *a, **k: sent.append(("shell", msg)))
        monkeypatch.setattr(lab.commands, "send", lambda msg, *a, **k: sent.append(("commands", msg)))
        monkeypatch.setattr(shell_ui._lab[1], "send", lambda msg, *a, **k: sent.append(("palette", msg)))
        window = shell_ui.dock(app)
        [(where, msg)] = sent
        assert where == "shell" and msg["func"] == "add" and msg["payload"]["area"] == "main"
        # JupyterLab says the panel is open: docking again (a re-run cell) adds nothing
        lab.shell.set_trait("_widgets", [{"id": msg["payload"]["id"]}])
        assert shell_ui.dock(app) is window and len(sent) == 1
        with pytest.raises(ValueError):
            shell_ui.dock(app, area="top")
        ids = shell_ui.add_commands(app)
        assert ids == ["chatkernel:open-chat", "chatkernel:open-explorer"]
        assert [m["func"] for w, m in sent[1:]] == ["addCommand", "addItem", "addCommand", "addItem"]
        assert {m["payload"]["label"] for w, m in sent[1:] if m["func"] == "addCommand"} == \
            {"Open chat", "Open explorer"}
    finally:
        for widget in shell_ui._lab:
            widget.close()
        await app.shutdown()
