"""Relay ids are a relay's own: a relay that restarts may number its messages from 1 again (ours
start from the clock, but a client cannot count on that), and another relay has its own numbers.
A message whose relay id was seen before, from another relay or before the restart, is a new
message and must not be taken for a redelivery."""

from __future__ import annotations

import pytest

from chatkernel.relay import EmbeddedRelay, MemoryStore

pytestmark = pytest.mark.anyio


async def _both_connected(*people):
    for person in people:
        await person.wait_for(lambda p=person: p.app.actors["signaling"].state == ["connected"])


def _numbering_from_one() -> MemoryStore:
    """A store that numbers from 1 after each start, as a relay without our clock-based ids does."""
    store = MemoryStore()
    store._counter = 0
    return store


async def test_a_relay_that_started_over_from_one_loses_no_message(people):
    relay = await EmbeddedRelay.start(_numbering_from_one())
    port = relay.port
    try:
        alice, bob = await people("Alice", "Bob", url=relay.url)
        for n in range(3):
            await alice.messaging.send(bob.user_id, f"before {n}")
        await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 3)
        seen = {m["relay_id"] for m in bob.of("RELAY_MESSAGE_RECEIVED")}
        await relay.stop()
        relay = await EmbeddedRelay.start(_numbering_from_one(), port=port)  # empty, its ids from 1 again
        await _both_connected(alice, bob)
        for n in range(3):
            await alice.messaging.send(bob.user_id, f"after {n}")
        await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 6)
        assert {m["relay_id"] for m in bob.of("RELAY_MESSAGE_RECEIVED")[3:]} & seen  # the ids did repeat
        assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == \
            [f"before {n}" for n in range(3)] + [f"after {n}" for n in range(3)]
        assert not bob.of("UNREADABLE_MESSAGE")
    finally:
        await relay.stop()


async def test_another_relays_ids_are_not_the_first_ones(people):
    first, second = await EmbeddedRelay.start(), await EmbeddedRelay.start()
    try:
        alice, bob = await people("Alice", "Bob", url=first.url)
        for n in range(2):
            await alice.messaging.send(bob.user_id, f"on the first {n}")
        await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 2)
        alice = await people.restart(alice, url=second.url)  # both moved to another relay
        bob = await people.restart(bob, url=second.url)
        await _both_connected(alice, bob)
        await bob.wait_for(lambda: bool(bob.of("PREKEYS_PUBLISHED")))
        for n in range(2):
            await alice.messaging.send(bob.user_id, f"on the second {n}")
        await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 2)
        assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == \
            ["on the first 0", "on the first 1", "on the second 0", "on the second 1"]
        assert not bob.of("UNREADABLE_MESSAGE")
    finally:
        await first.stop()
        await second.stop()
