"""Nothing lost and nothing shown twice across a restart (the same profile in a new app; a real
kernel killed with SIGKILL is tests/e2e/test_kernel_restart.py)."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.anyio


async def test_messages_sealed_offline_go_out_after_a_restart_in_order_once(people):
    alice, bob = await people("Alice", "Bob")
    await alice.messaging.send(bob.user_id, "hello")  # the session exists
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    alice.app.actors["signaling"].send("DISCONNECT")
    await alice.wait_for(lambda: alice.app.actors["signaling"].state == ["disconnected"])
    ids = [await alice.messaging.send(bob.user_id, f"offline {n}") for n in range(3)]
    assert [r["status"] for r in await alice.messaging.history(bob.user_id)] == ["sent", "queued", "queued", "queued"]

    alice = await people.restart(alice)
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 4)
    await alice.wait_for(lambda: len(alice.of("SECURE_MESSAGE_SENT")) == 3)
    await bob.app.settle()
    assert [e["id"] for e in bob.of("SECURE_MESSAGE_RECEIVED")][1:] == ids
    assert [r["status"] for r in await alice.messaging.history(bob.user_id)] == ["sent"] * 4
    assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == \
        ["hello", "offline 0", "offline 1", "offline 2"]


async def test_a_message_that_could_not_be_stored_stays_on_the_relay_until_it_is(people, relay, monkeypatch):
    alice, bob = await people("Alice", "Bob")
    crypto = bob.service("crypto")
    attempts = []

    async def database_went_away(*args, **kwargs):
        attempts.append(1)
        raise OSError("disk unplugged")  # not crypto refusing: the message must be kept

    monkeypatch.setattr(crypto, "decrypt", database_went_away)
    await alice.messaging.send(bob.user_id, "kept for later")
    await bob.wait_for(lambda: len(attempts) >= 2)  # settled as not stored: reconnect, delivered again
    assert await relay.store.length(bob.user_id) == 1  # never acknowledged to the relay
    assert not bob.of("SECURE_MESSAGE_RECEIVED") and not bob.of("UNREADABLE_MESSAGE")

    bob = await people.restart(bob)  # the kernel went away meanwhile
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    await bob.app.settle()
    assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == ["kept for later"]
    bob = await people.restart(bob)  # and not again
    await bob.app.settle()
    await bob.connected()
    assert not bob.of("SECURE_MESSAGE_RECEIVED")
    assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == ["kept for later"]
    for _ in range(200):  # the first poll after the log-in acknowledges it (bounded wait)
        if await relay.store.length(bob.user_id) == 0:
            break
        await asyncio.sleep(0.01)
    assert await relay.store.length(bob.user_id) == 0


async def test_a_message_delivered_twice_is_stored_once(people):
    alice, bob = await people("Alice", "Bob")
    await alice.messaging.send(bob.user_id, "once")
    await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_RECEIVED"))
    await bob.app.settle()
    [delivered] = bob.of("RELAY_MESSAGE_RECEIVED")
    assert await bob.messaging.receive(delivered) == "already stored"  # signaling delivering it again
    assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == ["once"]
    assert len(bob.of("SECURE_MESSAGE_RECEIVED")) == 1 and not bob.of("UNREADABLE_MESSAGE")
