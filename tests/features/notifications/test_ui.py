"""The notification center's Python side against a real actor: what it syncs and sends to the
page, and how it checks what the page sends back (no browser here: the shell's browser test
hosts the front end)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chatkernel import fire
from features.notifications.ui import NotificationCenter

from .conftest import BODY, GROUP

pytestmark = pytest.mark.anyio
BOB = "bob-user-id"


def from_page(widget: NotificationCenter, content: object) -> None:
    """What ipywidgets does with a custom message from the front end."""
    widget._handle_custom_msg(content, [])


async def test_the_widget_mirrors_the_stack_badge_and_switch(people):
    alice, = await people("Alice")
    center = NotificationCenter(alice.app)
    sent: list[dict] = []
    center.send = sent.append  # type: ignore[method-assign]
    shipped = Path(__file__).resolve().parents[3] / "features" / "notifications" / "toasts.js"
    assert center._esm == shipped.read_text(encoding="utf-8")  # the file beside ui.py, no CDN
    assert (center.toasts, center.unread, center.enabled, center.desktop, center.ready) == ([], 0, True, True, True)
    await alice.message(BOB, "m1")
    assert [t["id"] for t in center.toasts] == ["m1"] and center.toasts[0]["text"] == BODY
    assert sent == [{"type": "toast", "toast": alice.notifications.toasts()[0], "desktop": True}]
    alice.chat.unread(BOB, 3)
    await alice.wait_for(lambda: center.unread == 3)
    fire(alice.settings_actor, "SET_NOTIFICATIONS", enabled=False)
    await alice.wait_for(lambda: center.enabled is False)
    assert center.toasts == []
    alice.notifications.configure(desktop=False, toast_seconds=2.5)
    assert (center.desktop, center.toast_seconds) == (False, 2.5)
    center.close()
    alice.notifications.configure(desktop=True)
    assert center.desktop is False  # no longer following


async def test_clicks_dismissals_and_reports_from_the_page(people):
    alice, = await people("Alice")
    center = NotificationCenter(alice.app.actors["notifications"])
    center.send = lambda *a, **k: None  # type: ignore[method-assign]
    for message_id in ("m1", "m2", "m3"):
        await alice.message(BOB, message_id)
    from_page(center, {"type": "click", "id": "m1"})
    await alice.wait_for(lambda: alice.of("NOTIFICATION_CLICKED") == [{"conversation": BOB}])
    from_page(center, {"type": "dismiss", "id": "m2"})
    await alice.wait_for(lambda: [t["id"] for t in center.toasts] == ["m3"])
    from_page(center, {"type": "desktop", "id": "m3", "shown": True})
    from_page(center, {"type": "desktop", "shown": False})
    stats = alice.notifications.stats()
    assert (stats["desktop_shown"], stats["desktop_not_shown"]) == (1, 1)
    from_page(center, {"type": "permission", "permission": "granted"})
    assert center.permission == "granted"
    from_page(center, {"type": "mute", "conversation": BOB})  # a toast's "Mute" button
    await alice.wait_for(lambda: alice.notifications.is_muted(BOB) and center.toasts == [])
    from_page(center, {"type": "unmute", "conversation": BOB})
    await alice.wait_for(lambda: not alice.notifications.is_muted(BOB))
    await alice.message(BOB, "m4")
    from_page(center, {"type": "dismiss"})  # no id: every toast
    await alice.wait_for(lambda: center.toasts == [])
    assert center.refused == []


async def test_malformed_messages_from_the_page_are_ignored_and_logged(people, caplog):
    alice, = await people("Alice")
    center = NotificationCenter(alice.app)
    center.send = lambda *a, **k: None  # type: ignore[method-assign]
    await alice.message(BOB, "m1")
    bad = ["click", ["click"], {"type": "click"}, {"type": "click", "id": 5}, {"type": "click", "id": ""},
           {"type": "dismiss", "id": "x" * 201}, {"type": "desktop", "shown": "yes"},
           {"type": "desktop", "shown": True, "id": "a\x00b"}, {"type": "permission", "permission": "maybe"},
           {"type": "mute"}, {"type": "mute", "conversation": ["group:1"]},
           {"type": "open_everything"}, {"no": "type"}]
    with caplog.at_level(logging.WARNING, logger="chatkernel.features.notifications"):
        for content in bad:
            from_page(center, content)
    await alice.app.settle()
    assert len(center.refused) == len(bad) and len(caplog.records) == len(bad)
    assert "must be an object" in center.refused[0] and "unknown message type" in center.refused[-2]
    assert [t["id"] for t in center.toasts] == ["m1"] and not alice.of("NOTIFICATION_CLICKED")
    stats = alice.notifications.stats()
    assert stats["desktop_shown"] == stats["desktop_not_shown"] == 0 and center.permission == "default"
    assert alice.notifications.last_error is None  # nothing reached the actor


async def test_the_widget_shows_refusals_and_says_when_nobody_is_logged_in(people):
    anon = await people.boot()
    center = NotificationCenter(anon.app)
    assert center.ready is False
    center.click("m1")
    await anon.wait_for(lambda: center.error != "")
    assert center.error == "click: no identity is loaded"
    alice, = await people("Alice")
    mine = NotificationCenter(alice.app)
    fire(alice.actor, "MUTE", conversation=GROUP)
    await alice.wait_for(lambda: alice.notifications.is_muted(GROUP))
    assert mine.error == "" and "NotificationCenter(toasts=0" in repr(mine)


def test_the_widget_needs_an_app_or_actor():
    with pytest.raises(TypeError, match="NotificationCenter needs a booted App with the notifications feature"):
        NotificationCenter(object())


async def test_a_widget_with_no_page_attached_takes_new_toasts_quietly(people, caplog):
    alice, = await people("Alice")
    center = NotificationCenter(alice.app)  # not displayed: nothing to send to
    with caplog.at_level(logging.WARNING):
        await alice.message(BOB, "m1")
    assert [t["id"] for t in center.toasts] == ["m1"]
    assert not [r for r in caplog.records if "observer failed" in r.getMessage()]
