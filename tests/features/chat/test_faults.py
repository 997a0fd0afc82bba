"""Bad input and faults: a precise error before anything is written, or a message kept (queued
or failed, with why) that is sent once when it can be. Nothing is lost."""

from __future__ import annotations

import pytest

from features.chat.errors import ContactBlockedError, InvalidChatInputError, NotAContactError

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("text, reason", [
    ("", "is empty"), ("  \n ", "is empty"), ("x" * 32_001, "over the limit"), (5, "must be a str"),
    ("\ud800", "lone surrogate"),
])
async def test_bad_text_is_refused_and_nothing_is_stored(people, text, reason):
    alice, bob = await people("Alice", "Bob")
    await alice.chat.open(bob.user_id)
    with pytest.raises(InvalidChatInputError, match=reason):
        await alice.chat.send(bob.user_id, text)
    assert alice.chat.messages(bob.user_id) == [] and await alice.chat.history(bob.user_id) == []


async def test_unknown_and_blocked_contacts(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol", befriend=False)
    await alice.contacts.add(bob.service("identity").invite(bob.signaling.url), "Bob")
    for bad in ("not an id", None, alice.user_id):
        with pytest.raises(InvalidChatInputError):
            await alice.chat.send(bad, "hi")
    with pytest.raises(NotAContactError):
        await alice.chat.send(carol.user_id, "hi")
    await alice.contacts.block(bob.user_id)
    with pytest.raises(ContactBlockedError, match="Bob is blocked"):
        await alice.chat.send(bob.user_id, "hi")


async def test_a_blocked_sender_is_not_shown_nor_told_anything(people):
    alice, bob = await people("Alice", "Bob")
    await alice.chat.send(bob.user_id, "before")
    await bob.chat.next_message(alice.user_id, timeout=10)
    await bob.contacts.block(alice.user_id)
    await bob.app.settle()
    mine = await alice.chat.send(bob.user_id, "after the block")
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 2)
    await bob.app.settle()
    assert len(bob.of("MESSAGE_RECEIVED")) == 1 and bob.chat.stats["ignored_blocked"] == 1
    await alice.status_of(bob.user_id, mine["id"], "sent")
    await alice.app.settle()
    assert len(alice.of("MESSAGE_DELIVERED")) == 1  # for "before" only: no receipt to a blocked sender
    # kept, not lost: unblocking shows it in the history
    await bob.contacts.unblock(alice.user_id)
    assert [m["text"] for m in await bob.chat.history(alice.user_id)] == ["before", "after the block"]


async def test_a_first_message_written_offline_is_sent_once_the_connection_returns(people, relay):
    alice, bob = await people("Alice", "Bob")
    await _offline(alice)
    await alice.chat.open(bob.user_id)
    message = await alice.chat.send(bob.user_id, "written on the train")
    assert (message["status"], message["reason"]) == ("queued", None)
    assert await alice.db.fetchall("SELECT id, status FROM chat_unsent") == [(message["id"], "queued")]
    alice.app.actors["signaling"].send("CONNECT")
    got = await bob.chat.next_message(alice.user_id, timeout=10)
    assert (got["id"], got["text"]) == (message["id"], "written on the train")
    await alice.status_of(bob.user_id, message["id"], "delivered")
    assert await alice.db.fetchall("SELECT id FROM chat_unsent") == []
    assert [m["id"] for m in alice.chat.messages(bob.user_id)] == [message["id"]]


async def _offline(person):
    person.app.actors["signaling"].send("DISCONNECT")
    await person.wait_for(lambda: person.app.actors["signaling"].state == ["disconnected"])


async def test_unsent_messages_survive_a_restart_and_go_exactly_once_in_order(people):
    alice, bob = await people("Alice", "Bob")
    await _offline(alice)
    first = await alice.chat.send(bob.user_id, "one")
    second = await alice.chat.send(bob.user_id, "two")
    assert first["status"] == second["status"] == "queued"
    alice = await people.restart(alice)
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 2)
    await alice.status_of(bob.user_id, second["id"], "delivered")
    await bob.app.settle()
    assert [m["text"] for m in await bob.chat.history(alice.user_id)] == ["one", "two"]
    assert await alice.db.fetchall("SELECT id FROM chat_unsent") == []


async def test_a_message_sealed_just_before_a_crash_is_not_sent_twice(people):
    """The kernel died after messaging stored the message and before its unsent row went: the
    next flush finds the id sent already (messaging refuses it) and only drops the row."""
    alice, bob = await people("Alice", "Bob")
    sent = await alice.chat.send(bob.user_id, "just once")
    await bob.chat.next_message(alice.user_id, timeout=10)
    await alice.db.execute("INSERT INTO chat_unsent (id, peer, body, created_at, status) VALUES (?, ?, ?, 1, "
                           "'queued')", (sent["id"], bob.user_id, "just once"))
    assert await alice.chat.flush() == 1
    assert await alice.db.fetchall("SELECT id FROM chat_unsent") == []
    await alice.messaging.send(bob.user_id, "marker")
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 2)
    await bob.app.settle()
    assert [m["text"] for m in await bob.chat.history(alice.user_id)] == ["just once", "marker"]


async def test_a_message_refused_by_the_secure_core_is_failed_with_why_and_retry_sends_it(people, identities):
    """Carol signed up but never connected: the relay has no keys of hers, so Alice's first
    message cannot be sealed. It is kept as failed, with the reason; once Carol's keys are on the
    relay, retry sends it, once."""
    [alice] = await people("Alice")
    carol = await people.boot(signaling={"auto_connect": False})
    await identities.sign_up(carol.app, "Carol")
    await alice.contacts.add(carol.service("identity").invite(alice.signaling.url), "Carol")
    await alice.chat.open(carol.user_id)
    message = await alice.chat.send(carol.user_id, "are you there?")
    assert message["status"] == "failed" and "their keys are not on the relay" in message["reason"]
    await alice.wait_for(lambda: alice.of("MESSAGE_FAILED"))
    assert alice.of("MESSAGE_FAILED")[0]["id"] == message["id"]
    assert alice.chat.messages(carol.user_id)[0]["status"] == "failed"
    assert await alice.chat.flush() == 0  # a failed one waits for retry, not for the connection

    carol.app.actors["signaling"].send("CONNECT")
    await carol.wait_for(lambda: carol.messaging.stats["relay_prekeys"] is not None)
    retried = await alice.chat.retry(carol.user_id, message["id"])
    assert retried["status"] in ("queued", "sent", "delivered")
    got = await carol.chat.next_message(alice.user_id, timeout=10)
    assert (got["id"], got["text"]) == (message["id"], "are you there?")
    assert await alice.db.fetchall("SELECT id FROM chat_unsent") == []
    with pytest.raises(InvalidChatInputError, match="not failed"):
        await alice.chat.retry(carol.user_id, message["id"])


async def test_the_relay_going_away_mid_conversation_loses_nothing(people, relay):
    """The relay stops (its memory store with it) and comes back on the same port: what Alice
    wrote meanwhile waits, sealed, in her outbox, and arrives once both reconnected (and is not
    taken for one Bob acknowledged before: the restarted relay's ids start above the old ones)."""
    from chatkernel.relay import EmbeddedRelay

    alice, bob = await people("Alice", "Bob")
    await alice.chat.send(bob.user_id, "before")
    await bob.chat.next_message(alice.user_id, timeout=10)
    port = relay.port
    await relay.stop()
    await alice.wait_for(lambda: alice.app.actors["signaling"].state == ["reconnecting"], timeout=20)
    during = await alice.chat.send(bob.user_id, "while the relay was away")
    assert during["status"] == "queued"
    async with EmbeddedRelay.start(store="memory", port=port):
        got = await bob.chat.next_message(alice.user_id, timeout=30)
        assert (got["id"], got["text"]) == (during["id"], "while the relay was away")
        await alice.status_of(bob.user_id, during["id"], "delivered")
    assert [m["text"] for m in await bob.chat.history(alice.user_id)] == ["before", "while the relay was away"]
