"""The chat window, driven as the browser drives it (the conversation view's messages from the
page), against two people chatting through a real relay."""

from __future__ import annotations

import pytest

from features.chat.ui import ChatWindow

pytestmark = pytest.mark.anyio


def _from_page(window, **content):
    window.view._on_frontend_msg(window.view, content, [])


async def test_typing_enter_sends_and_the_window_follows_the_ticks(people):
    alice, bob = await people("Alice", "Bob")
    window = ChatWindow(alice.app, conversation=bob.user_id)
    bobs = ChatWindow(bob.app, conversation=alice.user_id)
    try:
        await alice.app.settle()
        assert window.conversation == bob.user_id and window.view.title == "Bob"
        assert window.view.disabled is False
        _from_page(window, type="send", text="hi **Bob** <script>alert(1)</script>", reply_to=None)
        got = await bob.chat.next_message(alice.user_id, timeout=10)
        await bob.app.settle()
        [shown] = bobs.view.messages()
        assert shown["id"] == got["id"] and "<strong>Bob</strong>" in shown["html"] and "<script" not in shown["html"]
        _from_page(bobs, type="read", id=got["id"])
        await alice.status_of(bob.user_id, got["id"], "read")
        await alice.app.settle()
        assert [m["status"] for m in window.view.messages()] == ["read"]
        assert "Bob" in [label for label, _ in window.picker.options][0]

        _from_page(window, type="send", text="about that", reply_to="no-such-message")  # the chat says why
        await alice.wait_for(lambda: "no message no-such-message" in window.view.error)
        assert len(window.view.messages()) == 1
        assert not alice.of("FEATURE_ERROR") and not bob.of("FEATURE_ERROR")
    finally:
        window.close()
        bobs.close()


async def test_a_blocked_contact_disables_the_composer(people):
    alice, bob = await people("Alice", "Bob")
    window = ChatWindow(alice.app, conversation=bob.user_id)
    try:
        await alice.contacts.block(bob.user_id)
        await alice.app.settle()
        window.refresh()
        assert window.view.disabled is True and "blocked" in window.view.disabled_reason
        assert "[blocked]" in window.picker.options[0][0]
    finally:
        window.close()


async def test_a_tampered_or_replayed_message_is_dropped_and_the_window_says_so(people):
    alice, bob = await people("Alice", "Bob")
    window = ChatWindow(alice.app, conversation=bob.user_id)
    try:
        await bob.chat.send(alice.user_id, "genuine")
        await alice.chat.next_message(bob.user_id, timeout=10)
        [sealed] = [e["payload"] for e in alice.of("RELAY_MESSAGE_RECEIVED")]
        await bob.signaling.send(alice.user_id, sealed)  # the relay (or anyone) replays it
        await alice.wait_for(lambda: alice.of("UNREADABLE_MESSAGE"))
        await alice.app.settle()
        assert "came again (a replay) and was dropped" in window.view.error
        await bob.signaling.send(alice.user_id, {"v": 1, "envelope": "AAAA"})  # not a sealed message
        await alice.wait_for(lambda: len(alice.of("UNREADABLE_MESSAGE")) == 2)
        await alice.app.settle()
        assert "could not be read and was dropped (malformed)" in window.view.error
        assert [m["text"] for m in window.view.messages()] == ["genuine"]
        assert alice.chat.stats["unreadable"] == 2 and not alice.of("FEATURE_ERROR")
    finally:
        window.close()
