"""What signaling keeps in the profile database: sends, the cursor, seen relay ids and (for a
consumer that asks) unacknowledged messages survive the app going away; nothing is lost and
nothing is shown twice. A real kernel killed with SIGKILL is tests/e2e/test_kernel_restart.py."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.anyio

from .conftest import FAST, make_peer


async def _restart(identities, peer, **settings):
    """The same profile in a new app (a restarted kernel), logged in again."""
    profile = identities.profile_of(peer.app)
    await peer.app.shutdown()
    again = await make_peer(identities, signed_up=False, **{**FAST, **settings})
    await identities.log_in(again.app, profile)
    return again


async def _rows(peer, table):
    return await peer.app.registry.mount_result("persistence").service.fetchall(f"SELECT * FROM {table}")


async def test_a_send_queued_while_offline_goes_out_after_a_restart_exactly_once(identities, relay):
    alice = await make_peer(identities, url=relay.url, auto_connect=False, **FAST)
    bob = await make_peer(identities, url=relay.url, name="Bob", **FAST)
    try:
        await bob.wait_for(lambda: bob.state == ["connected"])
        queued = await alice.service.submit(bob.identity.user_id, {"text": "hello"}, "m-1")
        assert queued.seq is not None and len(await _rows(alice, "signaling_outbox")) == 1

        alice = await _restart(identities, alice, url=relay.url)
        await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_RECEIVED"))
        await alice.wait_for(lambda: alice.of("RELAY_MESSAGE_SENT"))
        assert [m["payload"] for m in bob.of("RELAY_MESSAGE_RECEIVED")] == [{"text": "hello"}]
        assert alice.of("RELAY_MESSAGE_SENT")[0]["id"] == "m-1"
        assert await _rows(alice, "signaling_outbox") == []

        # Sent but the row not yet deleted when the kernel died: the resend is the relay's duplicate.
        db = alice.app.registry.mount_result("persistence").service
        await db.execute("INSERT INTO signaling_outbox (id, recipient, payload, created_at) VALUES (?, ?, ?, 0)",
                         ("m-1", bob.identity.user_id, '{"text":"hello"}'))
        alice = await _restart(identities, alice, url=relay.url)
        await alice.wait_for(lambda: alice.of("RELAY_MESSAGE_SENT"))
        assert alice.of("RELAY_MESSAGE_SENT")[0]["duplicate"] is True
        await bob.app.settle()
        assert len(bob.of("RELAY_MESSAGE_RECEIVED")) == 1
    finally:
        await alice.app.shutdown()
        await bob.app.shutdown()


async def test_the_same_id_submitted_twice_is_stored_once_and_both_callers_get_an_answer(identities, relay):
    """A retry of a send still in the outbox (the first answer not back yet) is not a database
    error: it goes again from memory, the relay answers it as a duplicate, bob sees it once."""
    alice = await make_peer(identities, url=relay.url, **FAST)
    bob = await make_peer(identities, url=relay.url, name="Bob", **FAST)
    try:
        await alice.wait_for(lambda: alice.state == ["connected"] and bob.state == ["connected"])
        first, second = await asyncio.gather(
            alice.service.send(bob.identity.user_id, {"text": "once"}, message_id="same"),
            alice.service.send(bob.identity.user_id, {"text": "once"}, message_id="same"))
        assert first["relayId"] == second["relayId"]
        assert sorted([first["duplicate"], second["duplicate"]]) == [False, True]
        await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_RECEIVED"))
        await bob.app.settle()
        assert [m["payload"] for m in bob.of("RELAY_MESSAGE_RECEIVED")] == [{"text": "once"}]
        assert await _rows(alice, "signaling_outbox") == []
    finally:
        await alice.app.shutdown()
        await bob.app.shutdown()


async def test_a_send_in_a_rolled_back_transaction_never_leaves(identities, relay):
    alice = await make_peer(identities, url=relay.url, **FAST)
    bob = await make_peer(identities, url=relay.url, name="Bob", **FAST)
    db = alice.app.registry.mount_result("persistence").service
    try:
        await alice.wait_for(lambda: alice.state == ["connected"])
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await alice.service.queue(tx, bob.identity.user_id, {"n": 1}, "rolled-back")
                raise RuntimeError("the caller's own write failed")
        async with db.transaction() as tx:
            await alice.service.queue(tx, bob.identity.user_id, {"n": 2}, "committed")
        await alice.service.wake()
        await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_RECEIVED"))
        await alice.app.settle()
        assert [m["payload"] for m in bob.of("RELAY_MESSAGE_RECEIVED")] == [{"n": 2}]
        assert [m["id"] for m in alice.of("RELAY_MESSAGE_SENT")] == ["committed"]
    finally:
        await alice.app.shutdown()
        await bob.app.shutdown()


async def test_what_arrived_is_not_shown_again_after_a_restart(identities, relay):
    alice = await make_peer(identities, url=relay.url, **FAST)
    bob = await make_peer(identities, url=relay.url, name="Bob", **FAST)
    try:
        await alice.wait_for(lambda: alice.state == ["connected"])
        for n in range(3):
            await bob.service.send(alice.identity.user_id, {"n": n})
        await alice.wait_for(lambda: len(alice.of("RELAY_MESSAGE_RECEIVED")) == 3)
        first = [m["relay_id"] for m in alice.of("RELAY_MESSAGE_RECEIVED")]
        state = dict(await _rows(alice, "signaling_state"))
        assert state["cursor"] == first[-1] and state["cursor_url"] == relay.url
        assert sorted(r[1] for r in await _rows(alice, "signaling_seen")) == sorted(first)
        assert {r[0] for r in await _rows(alice, "signaling_seen")} == {relay.url}

        # The kernel died before its next poll acknowledged the batch: the relay still holds it,
        # delivers it again, and the stored seen ids recognise every message.
        alice.service.cursor = None
        alice = await _restart(identities, alice, url=relay.url)
        alice.service.cursor = None  # as if the cursor had not been written either
        await alice.wait_for(lambda: alice.state == ["connected"])
        await bob.service.send(alice.identity.user_id, {"n": 3})
        await alice.wait_for(lambda: alice.of("RELAY_MESSAGE_RECEIVED"))
        await alice.app.settle()
        assert [m["payload"] for m in alice.of("RELAY_MESSAGE_RECEIVED")] == [{"n": 3}]
    finally:
        await alice.app.shutdown()
        await bob.app.shutdown()


async def test_a_consumer_that_stores_messages_decides_what_the_relay_is_told(identities, relay):
    alice = await make_peer(identities, url=relay.url, **FAST)
    bob = await make_peer(identities, url=relay.url, name="Bob", **FAST)
    db = alice.app.registry.mount_result("persistence").service
    try:
        alice.service.retain_until_acknowledged()
        await alice.wait_for(lambda: alice.state == ["connected"])
        await bob.service.send(alice.identity.user_id, {"n": 1})
        await bob.service.send(alice.identity.user_id, {"n": 2})
        await alice.wait_for(lambda: len(alice.of("RELAY_MESSAGE_RECEIVED")) >= 1)
        first = alice.of("RELAY_MESSAGE_RECEIVED")[0]["relay_id"]
        async with db.transaction() as tx:  # the consumer stores the first message
            assert await alice.service.acknowledge(tx, first) is True
        alice.service.settle(first, True)
        async with db.transaction() as tx:
            assert await alice.service.acknowledge(tx, first) is False  # once only
        await alice.wait_for(lambda: len(alice.of("RELAY_MESSAGE_RECEIVED")) >= 2)
        second = alice.of("RELAY_MESSAGE_RECEIVED")[1]["relay_id"]
        assert alice.of("RELAY_MESSAGE_RECEIVED")[1]["payload"] == {"n": 2}
        alice.service.settle(second, False)  # could not store it: the relay keeps it
        await alice.wait_for(lambda: len(alice.of("RELAY_MESSAGE_RECEIVED")) >= 3)  # after the reconnect
        again = alice.of("RELAY_MESSAGE_RECEIVED")[2]
        assert (again["relay_id"], again["payload"]) == (second, {"n": 2})
        assert alice.of("CONNECTION_LOST")[-1]["reason"].endswith("it stays on the relay and comes again")
        assert dict(await db.fetchall("SELECT name, value FROM signaling_state"))["cursor"] == first
        assert await alice.service.is_pending(first) is False and await alice.service.is_pending(second) is True

        async with db.transaction() as tx:
            assert await alice.service.acknowledge(tx, second) is True
        alice.service.settle(second, True)
        alice = await _restart(identities, alice, url=relay.url)
        alice.service.retain_until_acknowledged()
        await alice.wait_for(lambda: alice.state == ["connected"])
        await alice.app.settle()
        assert alice.of("RELAY_MESSAGE_RECEIVED") == []  # both stored: the relay was told, nothing comes again
    finally:
        await alice.app.shutdown()
        await bob.app.shutdown()


async def test_a_cursor_is_used_only_with_the_relay_that_made_it(identities, relay):
    from chatkernel.relay import EmbeddedRelay

    other = await EmbeddedRelay.start(store="memory")
    alice = await make_peer(identities, url=relay.url, **FAST)
    bob = await make_peer(identities, url=other.url, name="Bob", **FAST)
    try:
        await alice.wait_for(lambda: alice.state == ["connected"])
        await bob.wait_for(lambda: bob.state == ["connected"])
        sent = [await bob.service.send(alice.identity.user_id, {"n": n}) for n in range(3)]
        # A cursor the first relay gave, which names the other relay's second message: used
        # there, it would acknowledge (delete) two messages alice never saw.
        alice.service.cursor = sent[1]["relayId"]
        alice.url_changed(other.url)
        await alice.wait_for(lambda: len(alice.of("RELAY_MESSAGE_RECEIVED")) == 3)
        assert [m["payload"] for m in alice.of("RELAY_MESSAGE_RECEIVED")] == [{"n": 0}, {"n": 1}, {"n": 2}]
    finally:
        await alice.app.shutdown()
        await bob.app.shutdown()
        await other.stop()


async def test_log_out_keeps_stored_sends_for_the_next_log_in(identities, relay):
    alice = await make_peer(identities, url=relay.url, auto_connect=False, **FAST)
    bob = await make_peer(identities, url=relay.url, name="Bob", **FAST)
    try:
        queued = await alice.service.submit(bob.identity.user_id, {"text": "later"}, "kept")
        profile = identities.profile_of(alice.app)
        alice.identity.forget()
        await alice.app.registry.mount_result("persistence").service.close()
        await alice.app.settle()
        assert queued.future is not None and queued.future.done()
        assert "stays in the outbox" in str(queued.future.exception())
        assert not [e for e in alice.of("RELAY_SEND_FAILED") if e["id"] == "kept"]

        await identities.log_in(alice.app, profile)
        alice.actor.send("CONNECT")
        await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_RECEIVED"))
        assert [m["payload"] for m in bob.of("RELAY_MESSAGE_RECEIVED")] == [{"text": "later"}]
    finally:
        await alice.app.shutdown()
        await bob.app.shutdown()
