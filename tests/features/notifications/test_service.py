"""The notification rules on real apps: SQLCipher profiles under tmp_path, identity for real, a
chat test double, and the settings feature's own switch."""

from __future__ import annotations

import logging

import pytest

from chatkernel import fire
from features.notifications.errors import (
    InvalidArgumentError,
    InvalidIdError,
    InvalidSettingError,
    NotReadyError,
    UnknownToastError,
)

from .conftest import BODY, GROUP

pytestmark = pytest.mark.anyio
BOB = "bob-user-id"
CAROL = "carol-user-id"


async def test_a_message_in_a_conversation_that_is_not_open_becomes_a_toast(people):
    alice, = await people("Alice")
    await alice.message(BOB, "m1")
    [toast] = alice.notifications.toasts()
    assert set(toast) == {"conversation", "id", "title", "author", "text", "at"}
    assert (toast["conversation"], toast["id"], toast["author"], toast["text"]) == (BOB, "m1", "Bob", BODY)
    assert toast["title"] == f"Chat with {BOB[:8]}" and isinstance(toast["at"], int)
    assert alice.of("NOTIFICATION_SHOWN") == [{"conversation": BOB, "id": "m1", "desktop": False}]
    shown = next(e for e in alice.events if e.type == "NOTIFICATION_SHOWN")
    received = next(e for e in alice.events if e.type == "MESSAGE_RECEIVED")
    assert shown.source == "notifications" and shown.cause == received.id  # the explorer draws why
    stats = alice.notifications.stats()
    assert (stats["received"], stats["shown"], stats["toasts"]) == (1, 1, 1)


async def test_no_toast_in_the_open_conversation_and_opening_one_clears_its_toasts(people):
    alice, = await people("Alice")
    await alice.message(BOB, "m1")
    await alice.message(GROUP, "g1")
    alice.chat.open(BOB)
    await alice.wait_for(lambda: [t["id"] for t in alice.notifications.toasts()] == ["g1"])
    await alice.message(BOB, "m2")
    assert [t["id"] for t in alice.notifications.toasts()] == ["g1"]
    assert alice.notifications.stats()["suppressed"]["open"] == 1
    alice.chat.close(BOB)
    await alice.message(BOB, "m3")
    assert [t["id"] for t in alice.notifications.toasts()] == ["g1", "m3"]


async def test_muted_conversations_get_no_toast_and_muting_is_idempotent(people):
    alice, = await people("Alice")
    await alice.message(GROUP, "g1")
    assert await alice.notifications.mute(GROUP) is True
    assert alice.notifications.toasts() == []  # muting clears its toasts
    assert await alice.notifications.mute(GROUP) is False  # already: nothing written, nothing said
    assert alice.notifications.is_muted(GROUP) and alice.notifications.muted() == [GROUP]
    await alice.message(GROUP, "g2")
    assert alice.notifications.toasts() == [] and alice.notifications.stats()["suppressed"]["muted"] == 1
    assert await alice.notifications.unmute(GROUP) is True and await alice.notifications.unmute(GROUP) is False
    await alice.message(GROUP, "g3")
    assert [t["id"] for t in alice.notifications.toasts()] == ["g3"]
    assert await alice.heard("CONVERSATION_MUTED") == [{"conversation": GROUP, "muted": True},
                                                       {"conversation": GROUP, "muted": False}]


async def test_the_settings_switch_turns_notifications_off_and_on_live(people):
    alice, = await people("Alice")
    await alice.message(BOB, "m1")
    fire(alice.settings_actor, "SET_NOTIFICATIONS", enabled=False)
    await alice.wait_for(lambda: not alice.notifications.enabled)
    assert alice.notifications.toasts() == []  # off clears the stack
    await alice.message(BOB, "m2")
    assert alice.notifications.toasts() == [] and alice.notifications.stats()["suppressed"]["disabled"] == 1
    fire(alice.settings_actor, "SET_NOTIFICATIONS", enabled=True)
    await alice.wait_for(lambda: alice.notifications.enabled)
    await alice.message(BOB, "m3")
    assert [t["id"] for t in alice.notifications.toasts()] == ["m3"]


async def test_the_settings_loaded_at_boot_set_the_switch(people):
    alice, = await people("Alice")
    alice.app.registry.mount_result("settings").service.replace({"notifications": False})  # as if read from disk
    alice.app.actors["settings"].machine.emit("SETTINGS_LOADED",
                                              {"settings": alice.app.actors["settings"].machine.settings})
    await alice.wait_for(lambda: not alice.notifications.enabled)


async def test_this_features_own_settings_change_live_from_the_settings_feature(people):
    alice, = await people("Alice")
    settings = alice.app.actors["settings"].machine
    settings.emit("SETTINGS_CHANGED", {"key": "notifications.show_preview", "value": False, "settings": {}})
    await alice.wait_for(lambda: not alice.notifications.config.show_preview)
    settings.emit("SETTINGS_CHANGED", {"key": "notifications", "value": {"max_toasts": 2, "desktop": False},
                                       "settings": {}})
    await alice.wait_for(lambda: alice.notifications.config.max_toasts == 2)
    assert alice.notifications.config.desktop is False
    settings.emit("SETTINGS_CHANGED", {"key": "notifications.max_toasts", "value": 0, "settings": {}})  # refused
    await alice.app.settle()
    assert alice.notifications.config.max_toasts == 2


async def test_without_preview_the_toast_says_new_message(people):
    alice, = await people("Alice", show_preview=False)
    await alice.message(BOB, "m1")
    [toast] = alice.notifications.toasts()
    assert toast["text"] == "New message" and BODY not in str(toast)
    alice.notifications.configure(show_preview=True)  # live
    await alice.message(BOB, "m2")
    assert alice.notifications.toasts()[-1]["text"] == BODY


async def test_a_preview_the_chat_cannot_give_becomes_new_message_and_a_log_line(people, caplog):
    alice, = await people("Alice")
    alice.chat.failing.add("m1")
    alice.chat.previews["m2"] = {"title": 7, "author": "Bob", "text": BODY}  # not a preview
    alice.chat.previews["m3"] = {"title": "Bob", "author": "Bob", "text": "x" * 500}  # too long: cut
    with caplog.at_level(logging.DEBUG, logger="chatkernel"):
        await alice.message(BOB, "m1")
        await alice.message(BOB, "m2")
        await alice.message(BOB, "m3")
    first, second, third = alice.notifications.toasts()
    assert first["text"] == second["text"] == "New message" and first["author"] == ""
    assert len(third["text"]) == 140 and third["text"].endswith("\u2026")
    lines = [r.getMessage() for r in caplog.records if "no preview" in r.getMessage()]
    assert len(lines) == 2 and "m1" in lines[0] and BOB in lines[0] and "UnknownMessageError" in lines[0]
    assert alice.notifications.stats()["preview_failed"] == 2


async def test_the_stack_is_bounded_and_toasts_expire(people):
    alice, = await people("Alice", max_toasts=2, toast_seconds=0.3)
    for i in range(3):
        await alice.message(BOB, f"m{i}")
    assert [t["id"] for t in alice.notifications.toasts()] == ["m1", "m2"]
    assert alice.notifications.stats()["evicted"] == 1
    await alice.wait_for(lambda: alice.notifications.toasts() == [])
    assert alice.notifications.stats()["expired"] == 2


async def test_a_message_heard_twice_gives_one_toast(people):
    alice, = await people("Alice")
    await alice.message(BOB, "m1")
    await alice.message(BOB, "m1")  # at-least-once delivery
    assert len(alice.notifications.toasts()) == 1 and alice.notifications.stats()["suppressed"]["duplicate"] == 1


async def test_dismiss_dismiss_all_and_click(people):
    alice, = await people("Alice")
    for conversation, message_id in ((BOB, "m1"), (CAROL, "c1"), (GROUP, "g1")):
        await alice.message(conversation, message_id)
    assert alice.notifications.dismiss("m1") is True and alice.notifications.dismiss("m1") is False
    assert alice.notifications.click("c1") == CAROL
    assert await alice.heard("NOTIFICATION_CLICKED") == [{"conversation": CAROL}]
    with pytest.raises(UnknownToastError, match="c1"):
        alice.notifications.click("c1")
    assert alice.notifications.dismiss_all() == 1 and alice.notifications.toasts() == []
    stats = alice.notifications.stats()
    assert (stats["dismissed"], stats["clicked"]) == (2, 1)


async def test_the_machine_takes_the_ui_commands_and_keeps_refusals(people):
    alice, = await people("Alice")
    fire(alice.actor, "MUTE", conversation=GROUP)
    await alice.wait_for(lambda: alice.notifications.is_muted(GROUP))
    fire(alice.actor, "UNMUTE", conversation=GROUP)
    await alice.wait_for(lambda: not alice.notifications.is_muted(GROUP))
    await alice.message(BOB, "m1")
    await alice.message(BOB, "m2")
    fire(alice.actor, "CLICK", id="m1")
    await alice.wait_for(lambda: alice.of("NOTIFICATION_CLICKED") == [{"conversation": BOB}])
    fire(alice.actor, "DISMISS", id="m2")
    await alice.wait_for(lambda: alice.notifications.toasts() == [])
    fire(alice.actor, "MUTE", conversation="")
    await alice.wait_for(lambda: alice.notifications.last_error is not None)
    assert alice.notifications.last_error["operation"] == "mute"
    assert alice.notifications.last_error["kind"] == "InvalidIdError"
    fire(alice.actor, "CLICK", id="gone")
    await alice.wait_for(lambda: alice.notifications.last_error["kind"] == "UnknownToastError")


async def test_mutes_survive_a_new_app_on_the_same_profile(people):
    alice, = await people("Alice")
    await alice.notifications.mute(GROUP)
    await alice.notifications.mute(BOB)
    await alice.notifications.unmute(BOB)
    alice = await people.restart(alice)
    assert alice.notifications.muted() == [GROUP]
    await alice.message(GROUP, "g1")
    assert alice.notifications.toasts() == []
    rows = await alice.app.registry.mount_result("persistence").service.fetchall(
        "SELECT owner, version FROM persistence_migrations WHERE owner = 'notifications'")
    assert rows == [("notifications", 1)]


async def test_log_out_clears_toasts_and_mutes_and_nothing_works_until_log_in(people):
    anon = await people.boot()
    with pytest.raises(NotReadyError, match="not open"):
        await anon.notifications.mute(BOB)
    with pytest.raises(NotReadyError):
        anon.notifications.muted()
    alice, = await people("Alice")
    await alice.notifications.mute(GROUP)
    await alice.message(BOB, "m1")
    await alice.app.registry.mount_result("persistence").service.close()
    await alice.wait_for(lambda: alice.actor.state == ["locked"])
    assert alice.notifications.toasts() == [] and not alice.notifications.is_muted(GROUP)
    assert not alice.notifications.ready
    alice.chat.receive(BOB, "m2")
    await alice.wait_for(lambda: alice.notifications.stats()["suppressed"]["locked"] == 1)
    with pytest.raises(NotReadyError):
        await alice.notifications.mute(BOB)
    with pytest.raises(NotReadyError):
        await alice.notifications.notify(BOB, "m3")
    fire(alice.actor, "MUTE", conversation=BOB)
    await alice.wait_for(lambda: alice.notifications.last_error is not None)
    assert alice.notifications.last_error["kind"] == "NotReadyError"


async def test_a_log_out_while_the_chat_answers_drops_the_toast(people):
    alice, = await people("Alice")
    alice.chat.delay = 0.2
    alice.chat.receive(BOB, "m1")
    await alice.wait_for(lambda: alice.chat.asked)
    await alice.app.registry.mount_result("persistence").service.close()
    await alice.wait_for(lambda: alice.notifications.stats()["suppressed"]["locked"] == 1)
    assert alice.notifications.toasts() == [] and not alice.of("NOTIFICATION_SHOWN")


async def test_the_unread_badge_follows_the_chat_and_leaves_muted_conversations_out(people):
    anon = await people.boot()
    anon.chat.counts = {BOB: 2, GROUP: 5, CAROL: 0}
    alice = anon
    await alice.app.registry.mount_result("persistence").service.open(b"k" * 32, "p")
    await alice.app.registry.mount_result("identity").service.create("Alice")
    await alice.ready()
    assert alice.notifications.unread() == {BOB: 2, GROUP: 5} and alice.notifications.unread_total == 7
    alice.chat.unread(CAROL, 1)
    await alice.wait_for(lambda: alice.notifications.unread_total == 8)
    await alice.notifications.mute(GROUP)
    assert alice.notifications.unread_total == 3 and alice.notifications.stats()["unread_total"] == 3
    alice.chat.unread(BOB, 0)
    await alice.wait_for(lambda: alice.notifications.unread() == {GROUP: 5, CAROL: 1})


async def test_bad_input_to_every_public_method_is_refused_precisely(people):
    alice, = await people("Alice")
    n = alice.notifications
    for value, reason in ((None, "must be a string"), (7, "must be a string"), ("", "is empty"),
                          ("x" * 201, "longer than 200"), ("a\nb", "control character")):
        for call in (n.mute, n.unmute, lambda v: n.notify(v, "m1")):
            with pytest.raises(InvalidIdError, match=reason) as caught:
                await call(value)
            assert reason in caught.value.reason and caught.value.value == value
        for call in (n.dismiss, n.click, n.is_muted, lambda v: n.desktop_delivered(True, v)):
            if value is None and call is not n.dismiss and call is not n.click and call is not n.is_muted:
                continue  # desktop_delivered's toast id is optional
            with pytest.raises(InvalidIdError, match=reason):
                call(value)
        with pytest.raises(InvalidIdError, match=reason):
            await n.notify(BOB, value)
    assert await n.mute("x" * 200) is True  # the longest id allowed
    for changes, reason in (({"max_toasts": 0}, "from 1 to"), ({"max_toasts": 2.5}, "whole number"),
                            ({"toast_seconds": -1}, "above 0"), ({"toast_seconds": True}, "above 0"),
                            ({"desktop": "yes"}, "true or false"), ({"volume": 3}, "is not a setting")):
        with pytest.raises(InvalidSettingError, match=reason):
            n.configure(**changes)
    assert n.config.max_toasts == 5
    with pytest.raises(InvalidSettingError):
        n.set_enabled("off")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="true or false"):
        n.desktop_delivered("yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="callable"):
        n.watch(None)  # type: ignore[arg-type]
    assert n.toasts() == [] and not alice.of("NOTIFICATION_SHOWN")


async def test_no_body_in_any_event_log_line_or_repr(people, caplog):
    with caplog.at_level(logging.DEBUG):
        alice, = await people("Alice")
        alice.chat.failing.add("m2")
        await alice.message(BOB, "m1")
        await alice.message(BOB, "m2")
        await alice.notifications.mute(GROUP)
        await alice.message(GROUP, "g1")
        alice.notifications.click("m1")
        await alice.app.settle()
    assert alice.of("NOTIFICATION_SHOWN") and alice.of("NOTIFICATION_CLICKED") and alice.of("CONVERSATION_MUTED")
    for event in alice.events:
        assert BODY not in repr(dict(event.payload)), event.type
    for record in caplog.records:
        assert BODY not in record.getMessage() and BODY not in str(record.exc_text or "")
    assert BODY not in repr(alice.notifications) and "messages" not in repr(alice.notifications)
    assert any("m2" in r.getMessage() for r in caplog.records)  # ids are logged


async def test_a_hot_reload_after_log_in_reads_the_mutes_again(people):
    import features.notifications

    alice, = await people("Alice")
    await alice.notifications.mute(GROUP)
    await alice.message(BOB, "m1")
    report = await alice.app.registry.replace(features.notifications.feature)
    assert "notifications" not in report.failed
    await alice.ready()
    assert alice.notifications.muted() == [GROUP] and alice.notifications.toasts() == []
    await alice.message(BOB, "m2")
    assert [t["id"] for t in alice.notifications.toasts()] == ["m2"]
