"""The chat and the notifications feature together: a message in a conversation that is not open
becomes a toast with the chat's preview; in the open one, or muted, it does not."""

from __future__ import annotations

import pytest

import features.notifications

pytestmark = pytest.mark.anyio


async def test_a_message_in_a_closed_conversation_is_a_toast_with_its_preview(people, identities):
    [alice] = await people("Alice", befriend=False)
    bob = await people.boot(extra=(features.notifications.feature,))
    await identities.sign_up(bob.app, "Bob")
    await bob.wait_for(lambda: bob.actor.state == ["ready"] and bob.messaging.stats["relay_prekeys"] is not None)
    await alice.contacts.add(bob.service("identity").invite(alice.signaling.url), "Bob")
    await bob.contacts.add(alice.service("identity").invite(alice.signaling.url), "Alice")
    toasts = bob.service("notifications")
    await bob.wait_for(lambda: toasts.ready)

    await alice.chat.send(bob.user_id, "Are we still on for **tonight**?")
    await bob.wait_for(lambda: toasts.toasts())
    [toast] = toasts.toasts()
    assert (toast["conversation"], toast["title"], toast["author"], toast["text"]) == \
        (alice.user_id, "Alice", "Alice", "Are we still on for tonight?")
    assert toasts.unread_total == 1

    await bob.chat.open(alice.user_id)  # reading it: no toast for what arrives in the open conversation
    await bob.app.settle()
    await alice.chat.send(bob.user_id, "see you at 8")
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 2)
    await bob.app.settle()
    assert toasts.toasts() == [] and toasts.stats()["suppressed"]["open"] == 1  # opening cleared its toast
    bob.chat.close(alice.user_id)
    await toasts.mute(alice.user_id)
    await alice.chat.send(bob.user_id, "muted, so quiet")
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 3)
    await bob.app.settle()
    assert toasts.stats()["suppressed"]["muted"] == 1
