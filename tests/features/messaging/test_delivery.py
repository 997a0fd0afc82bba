"""Messages between two people through a real relay: sealed, stored, delivered once, read back."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.anyio


async def test_a_first_message_starts_a_session_and_both_sides_store_the_conversation(people, relay):
    alice, bob = await people("Alice", "Bob")
    assert alice.of("PREKEYS_PUBLISHED")[0] == {"remaining": 100, "accepted": 100, "trigger": "connected"}

    message_id = await alice.messaging.send(bob.user_id, "hello **bob**")
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    received = bob.of("SECURE_MESSAGE_RECEIVED")[0]
    assert received["peer"] == alice.user_id and received["id"] == message_id and received["kind"] == "text"
    [row] = await bob.messaging.history(alice.user_id)
    assert (row["body"], row["direction"], row["status"]) == ("hello **bob**", "in", "received")
    await alice.wait_for(lambda: alice.of("SECURE_MESSAGE_SENT"))
    assert alice.of("SECURE_MESSAGE_SENT") == [{"peer": bob.user_id, "id": message_id}]
    [mine] = await alice.messaging.history(bob.user_id)
    assert (mine["body"], mine["direction"], mine["status"]) == ("hello **bob**", "out", "sent")
    assert mine["relay_id"] is not None

    # Bob's session used one of his one-time prekeys: he checks the count (99 is not yet low).
    await bob.wait_for(lambda: any(p["trigger"] == "session_started" for p in bob.of("PREKEYS_PUBLISHED")))
    check = [p for p in bob.of("PREKEYS_PUBLISHED") if p["trigger"] == "session_started"][-1]
    assert (check["remaining"], check["accepted"]) == (99, 0)

    reply = await bob.messaging.send(alice.user_id, "hi alice")
    await alice.wait_for(lambda: alice.of("SECURE_MESSAGE_RECEIVED"))
    assert alice.of("SECURE_MESSAGE_RECEIVED")[0]["id"] == reply
    assert [r["body"] for r in await alice.messaging.history(bob.user_id)] == ["hello **bob**", "hi alice"]
    assert await alice.messaging.conversations() == [
        {"peer": bob.user_id, "messages": 2, "last_at": (await alice.messaging.history(bob.user_id))[-1]["stored_at"]}]
    assert not alice.of("FEATURE_ERROR") and not bob.of("FEATURE_ERROR")
    # Stored with the message: its relay id as seen and the cursor, so the next poll acknowledges it.
    [delivered] = bob.of("RELAY_MESSAGE_RECEIVED")[:1]
    state = dict(await bob.db.fetchall("SELECT name, value FROM signaling_state"))
    assert state["cursor"] == bob.of("RELAY_MESSAGE_RECEIVED")[-1]["relay_id"]
    assert await bob.signaling.is_pending(delivered["relay_id"]) is False


async def test_many_messages_arrive_in_order_exactly_once(people):
    alice, bob = await people("Alice", "Bob")
    ids = [await alice.messaging.send(bob.user_id, f"message {n}") for n in range(30)]
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 30)
    await bob.app.settle()
    assert [e["id"] for e in bob.of("SECURE_MESSAGE_RECEIVED")] == ids
    assert [r["body"] for r in await bob.messaging.history(alice.user_id, limit=100)] == \
        [f"message {n}" for n in range(30)]
    assert len(alice.of("CRYPTO_SESSION_STARTED")) == 1  # one X3DH, then the ratchet


async def test_concurrent_first_messages_fetch_one_bundle(people):
    import asyncio

    alice, bob = await people("Alice", "Bob")
    ids = await asyncio.gather(*(alice.messaging.send(bob.user_id, f"m{n}") for n in range(10)))
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 10)
    assert sorted(e["id"] for e in bob.of("SECURE_MESSAGE_RECEIVED")) == sorted(ids)
    assert len(alice.of("CRYPTO_SESSION_STARTED")) == 1


async def test_the_relay_holds_ciphertext_only(people, relay):
    alice, bob = await people("Alice", "Bob")
    bob.app.actors["signaling"].send("DISCONNECT")  # the message stays in bob's mailbox
    await bob.wait_for(lambda: bob.app.actors["signaling"].state == ["disconnected"])
    secret = "the eagle lands at midnight"
    await alice.messaging.send(bob.user_id, secret)
    await alice.wait_for(lambda: alice.of("SECURE_MESSAGE_SENT"))
    [held] = await relay.store.read(bob.user_id, None, limit=10, max_bytes=1 << 20)
    text = repr(held)
    assert secret not in text and "eagle" not in text
    assert set(json.loads(held.payload)) == {"v", "envelope"}


async def test_both_starting_a_session_at_once_loses_nothing(people):
    """Alice and Bob each send first messages before either has heard from the other: two X3DH
    sessions cross on the relay. Each side keeps the session it replaces and tries it for what
    arrives, so both converge on one and every message is read."""
    alice, bob = await people("Alice", "Bob")
    both = (alice, bob)
    bundle_for_bob = await alice.signaling.fetch_bundle(bob.user_id)
    bundle_for_alice = await bob.signaling.fetch_bundle(alice.user_id)
    for person in both:  # offline from here: nothing arrives before everything is sealed
        person.app.actors["signaling"].send("DISCONNECT")
    await alice.wait_for(lambda: all(p.app.actors["signaling"].state == ["disconnected"] for p in both))
    await alice.service("crypto").encrypt(bob.user_id, b"warm", bundle=bundle_for_bob)  # two sessions,
    await bob.service("crypto").encrypt(alice.user_id, b"warm", bundle=bundle_for_alice)  # both initiators
    sent_a = [await alice.messaging.send(bob.user_id, f"a{n}") for n in range(3)]
    sent_b = [await bob.messaging.send(alice.user_id, f"b{n}") for n in range(3)]
    for person in both:
        person.app.actors["signaling"].send("CONNECT")
    await alice.wait_for(lambda: len(alice.of("SECURE_MESSAGE_RECEIVED")) == 3
                         and len(bob.of("SECURE_MESSAGE_RECEIVED")) == 3)
    assert [e["role"] for e in alice.of("CRYPTO_SESSION_STARTED")] == ["initiator", "responder"]  # crossed
    assert [e["role"] for e in bob.of("CRYPTO_SESSION_STARTED")] == ["initiator", "responder"]

    more_a = await alice.messaging.send(bob.user_id, "a after")
    more_b = await bob.messaging.send(alice.user_id, "b after")
    await alice.wait_for(lambda: len(alice.of("SECURE_MESSAGE_RECEIVED")) == 4
                         and len(bob.of("SECURE_MESSAGE_RECEIVED")) == 4)
    again_a = await alice.messaging.send(bob.user_id, "a again")
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 5)
    assert [e["id"] for e in bob.of("SECURE_MESSAGE_RECEIVED")] == [*sent_a, more_a, again_a]
    assert [e["id"] for e in alice.of("SECURE_MESSAGE_RECEIVED")] == [*sent_b, more_b]
    assert not alice.of("UNREADABLE_MESSAGE") and not bob.of("UNREADABLE_MESSAGE")
