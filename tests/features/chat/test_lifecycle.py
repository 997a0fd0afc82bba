"""A message's life between two people through a real relay: queued, sent, delivered, read,
each step driven by the relay's answer or the peer's encrypted receipt, each said once."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.anyio


async def test_a_message_goes_queued_sent_delivered_read(people):
    alice, bob = await people("Alice", "Bob")
    await alice.chat.open(bob.user_id)
    message = await alice.chat.send(bob.user_id, "hello **Bob**")
    assert (message["status"], message["direction"], message["author"]) == ("queued", "out", "Alice")
    assert [m["id"] for m in alice.chat.messages(bob.user_id)] == [message["id"]]

    incoming = await bob.chat.next_message(alice.user_id, timeout=10)
    assert (incoming["id"], incoming["text"], incoming["author"], incoming["status"]) == \
        (message["id"], "hello **Bob**", "Alice", "received")
    await bob.wait_for(lambda: bob.of("UNREAD_CHANGED"))
    assert bob.of("MESSAGE_RECEIVED") == [{"conversation": alice.user_id, "peer": alice.user_id,
                                           "id": message["id"], "sent_at": incoming["sent_at"]}]
    assert bob.of("UNREAD_CHANGED")[-1] == {"conversation": alice.user_id, "unread": 1}
    assert bob.chat.unread_counts() == {alice.user_id: 1}

    await alice.status_of(bob.user_id, message["id"], "delivered")
    assert alice.of("MESSAGE_SENT") == [{"conversation": bob.user_id, "id": message["id"]}]
    await alice.wait_for(lambda: alice.of("MESSAGE_DELIVERED"))
    assert alice.of("MESSAGE_DELIVERED") == [{"conversation": bob.user_id, "ids": [message["id"]]}]

    assert await bob.chat.read(alice.user_id) == [message["id"]]
    await alice.status_of(bob.user_id, message["id"], "read")
    await alice.wait_for(lambda: alice.of("MESSAGE_READ"))
    assert alice.of("MESSAGE_READ") == [{"conversation": bob.user_id, "ids": [message["id"]]}]
    assert bob.chat.unread_counts() == {}
    assert bob.of("UNREAD_CHANGED")[-1] == {"conversation": alice.user_id, "unread": 0}
    assert (await bob.chat.message(alice.user_id, message["id"]))["status"] == "read"
    # the open window followed every step
    assert [m["status"] for m in alice.chat.messages(bob.user_id)] == ["read"]
    assert not alice.of("FEATURE_ERROR") and not bob.of("FEATURE_ERROR")


async def test_receipts_can_be_switched_off(people):
    alice, bob = await people("Alice", "Bob", chat={"read_receipts": False, "delivery_receipts": False})
    message = await alice.chat.send(bob.user_id, "quiet")
    await bob.chat.next_message(alice.user_id, timeout=10)
    await bob.chat.read(alice.user_id)
    await alice.status_of(bob.user_id, message["id"], "sent")
    await alice.app.settle()
    await bob.app.settle()
    assert not alice.of("MESSAGE_DELIVERED") and not alice.of("MESSAGE_READ")
    assert (await alice.chat.message(bob.user_id, message["id"]))["status"] == "sent"


async def test_each_conversation_has_its_actor_and_the_window_is_watched(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    seen = []
    stop = alice.chat.watch(bob.user_id, lambda kind, data: seen.append(kind))
    await alice.chat.open(bob.user_id)
    await bob.chat.send(alice.user_id, "from bob")
    await carol.chat.send(alice.user_id, "from carol")
    await alice.wait_for(lambda: len(alice.of("MESSAGE_RECEIVED")) == 2)
    await alice.app.settle()
    actors = {a.id: a.state for a in alice.app.actors.all(type="conversation")}
    assert actors == {f"conversation-{bob.user_id}": ["open"], f"conversation-{carol.user_id}": ["closed"]}
    assert seen[:2] == ["reset", "upsert"]
    stop()
    alice.chat.close(bob.user_id)
    await alice.app.settle()
    assert alice.app.actors[f"conversation-{bob.user_id}"].state == ["closed"]
    assert alice.of("CONVERSATION_OPENED") == [{"conversation": bob.user_id}]
    assert alice.of("CONVERSATION_CLOSED") == [{"conversation": bob.user_id}]
    listed = await alice.chat.conversations()
    assert {c["title"]: c["unread"] for c in listed} == {"Bob": 1, "Carol": 1}


async def test_a_message_counted_while_the_counts_are_read_stays_counted(people, monkeypatch):
    alice, bob = await people("Alice", "Bob")
    first = await alice.chat.send(bob.user_id, "before the counts are read")
    await bob.wait_for(lambda: bob.chat.unread_counts() == {alice.user_id: 1})
    messaging = bob.chat.messaging
    real = messaging.unread_counts
    read, gate = asyncio.Event(), asyncio.Event()

    async def stale(**kwargs):
        counts = await real(**kwargs)
        if not read.is_set():  # the first read is taken now and handed over late
            read.set()
            await gate.wait()
        return counts

    monkeypatch.setattr(messaging, "unread_counts", stale)
    loading = asyncio.ensure_future(bob.chat.load())  # as after a log-in
    await read.wait()
    second = await alice.chat.send(bob.user_id, "while they are read")
    await bob.wait_for(lambda: bob.chat.unread_counts() == {alice.user_id: 2})
    gate.set()
    await loading
    assert bob.chat.unread_counts() == {alice.user_id: 2}  # not the stale 1
    assert [m["id"] for m in await bob.chat.history(alice.user_id)] == [first["id"], second["id"]]
