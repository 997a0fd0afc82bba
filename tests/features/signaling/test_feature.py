"""The signaling feature against a real relay on loopback."""

import asyncio

import pytest

from chatkernel.relay import EmbeddedRelay

pytestmark = pytest.mark.anyio


async def test_two_users_exchange_messages_both_ways(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.state == ["connected"] and bob.state == ["connected"])
    assert alice.of("SIGNALING_CONNECTED") == [{"url": relay.url, "user_id": alice.service.user_id}]
    result = await alice.service.send(bob.service.user_id, {"text": "hi bob"})
    assert result["duplicate"] is False
    bob.app.dispatch("MESSAGE_SEND_REQUESTED", {"to": alice.service.user_id, "payload": {"text": "hi alice"},
                                                "id": "m-1"})
    await bob.wait_for(lambda: bob.of("MESSAGE_RECEIVED") and alice.of("MESSAGE_RECEIVED"))
    [got] = bob.of("MESSAGE_RECEIVED")
    assert got["from"] == alice.service.user_id and got["payload"] == {"text": "hi bob"}
    assert alice.of("MESSAGE_RECEIVED")[0]["payload"] == {"text": "hi alice"}
    assert bob.of("MESSAGE_SENT")[0]["id"] == "m-1"
    received = [e for e in bob.events if e.type == "MESSAGE_RECEIVED"]
    assert received[0].priority.name == "HIGH" and received[0].source == "signaling"


async def test_resend_with_same_id_is_flagged_duplicate_and_delivered_once(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    first = await alice.service.send(bob.service.user_id, "x", message_id="same")
    again = await alice.service.send(bob.service.user_id, "x", message_id="same")
    assert (first["duplicate"], again["duplicate"]) == (False, True) and first["relayId"] == again["relayId"]
    await bob.wait_for(lambda: bob.of("MESSAGE_RECEIVED"))
    await asyncio.sleep(0.1)
    assert len(bob.of("MESSAGE_RECEIVED")) == 1


async def test_messages_arrive_in_order(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    for n in range(30):
        alice.service.enqueue(bob.service.user_id, {"n": n})
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 30)
    assert [m["payload"]["n"] for m in bob.of("MESSAGE_RECEIVED")] == list(range(30))


async def test_insecure_or_invalid_url_is_refused_and_nothing_changes(relay, peers):
    alice = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected)
    alice.app.dispatch("SIGNALING_URL_CHANGED", {"url": "http://relay.example.org"})
    alice.app.dispatch("SIGNALING_URL_CHANGED", {"url": "gopher://x"})
    await alice.app.settle()
    reasons = [r["reason"] for r in alice.of("SIGNALING_URL_REJECTED")]
    assert "non-loopback" in reasons[0] and "scheme" in reasons[1]
    assert alice.state == ["connected"] and alice.service.url == relay.url


async def test_connect_without_url_and_disconnect_on_request(relay, peers):
    alice = await peers(auto_connect=True)
    alice.actor.send("CONNECT")
    await alice.app.settle()
    assert alice.state == ["disconnected"]
    assert alice.of("SIGNALING_URL_REJECTED") == [{"url": None, "reason": "no relay URL is set"}]
    alice.app.dispatch("SIGNALING_URL_CHANGED", {"url": relay.url})
    await alice.wait_for(lambda: alice.state == ["connected"])
    alice.actor.send("DISCONNECT")
    await alice.actor.settle()
    await alice.app.settle()
    assert alice.state == ["disconnected"] and not alice.service.connected
    assert alice.of("SIGNALING_DISCONNECTED")[0]["reason"] == "disconnected on request", [(e.type, dict(e.payload)) for e in alice.events]


async def test_switching_relays_reconnects_to_the_new_one(peers):
    async with EmbeddedRelay.start() as one, EmbeddedRelay.start() as two:
        alice = await peers(url=one.url)
        bob = await peers(url=two.url)
        await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
        alice.app.dispatch("SIGNALING_URL_CHANGED", {"url": two.url})
        await alice.wait_for(lambda: len(alice.of("SIGNALING_CONNECTED")) == 2)
        assert alice.service.url == two.url
        await alice.service.send(bob.service.user_id, "over the new relay")
        await bob.wait_for(lambda: bob.of("MESSAGE_RECEIVED"))


async def test_reconnects_after_relay_restart_without_losing_or_duplicating(tmp_path, peers):
    store = f"sqlite:{tmp_path / 'relay.db'}"
    server = await EmbeddedRelay.start(store=store)
    port = server.port
    alice = await peers(url=server.url)
    bob = await peers(url=server.url)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    for n in range(3):
        await alice.service.send(bob.service.user_id, {"n": n})
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 3)

    await server.stop()
    await bob.wait_for(lambda: bob.of("CONNECTION_LOST"))
    assert "reconnecting" in bob.state or "connecting" in bob.state
    pending = [alice.service.enqueue(bob.service.user_id, {"n": n}) for n in range(3, 6)]
    await asyncio.sleep(0.3)  # the relay is down: sends wait in the outbox
    assert alice.service.pending_sends >= 1

    server = await EmbeddedRelay.start(store=store, port=port)
    try:
        await asyncio.gather(*(m.future for m in pending))
        await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) >= 6)
        await asyncio.sleep(0.2)
        assert [m["payload"]["n"] for m in bob.of("MESSAGE_RECEIVED")] == list(range(6))
        assert bob.state == ["connected"] and alice.state == ["connected"]
        lost = bob.of("CONNECTION_LOST")[0]
        assert lost["url"] == server.url and lost["attempt"] >= 1 and lost["retry_in_s"] >= 0
    finally:
        for peer in (alice, bob):
            await peer.app.shutdown()
        await server.stop()


async def test_memory_relay_restart_resets_the_cursor(peers):
    server = await EmbeddedRelay.start()
    port = server.port
    alice = await peers(url=server.url)
    bob = await peers(url=server.url)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    for n in range(2):
        await alice.service.send(bob.service.user_id, {"n": n})
    await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 2)
    await server.stop()
    server = await EmbeddedRelay.start(port=port)  # a fresh, empty relay on the same address
    try:
        await bob.wait_for(lambda: bob.service.connected and alice.service.connected)
        await alice.service.send(bob.service.user_id, {"n": 2})
        await bob.wait_for(lambda: len(bob.of("MESSAGE_RECEIVED")) == 3)
        assert [m["payload"]["n"] for m in bob.of("MESSAGE_RECEIVED")] == [0, 1, 2]
    finally:
        for peer in (alice, bob):
            await peer.app.shutdown()
        await server.stop()


async def test_permanent_send_failure_is_reported(relay, peers):
    alice = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected)
    alice.app.dispatch("MESSAGE_SEND_REQUESTED", {"to": "not a user id", "payload": "x", "id": "bad-1"})
    await alice.wait_for(lambda: alice.of("MESSAGE_SEND_FAILED"))
    [failed] = alice.of("MESSAGE_SEND_FAILED")
    assert failed["id"] == "bad-1" and "422" in failed["reason"]
    alice.app.dispatch("MESSAGE_SEND_REQUESTED", {"payload": "x"})
    await alice.wait_for(lambda: len(alice.of("MESSAGE_SEND_FAILED")) == 2)
    assert "recipient" in alice.of("MESSAGE_SEND_FAILED")[1]["reason"]


async def test_unmount_disconnects_and_stops_polling(relay, peers):
    alice = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected)
    service = alice.service
    await alice.app.shutdown()
    assert not service.connected and service._sender is None
    assert relay.service.parked == 0


async def test_an_app_started_offline_connects_only_when_asked(relay, peers):
    alice = await peers(url=relay.url, startup="offline")
    await alice.app.settle()
    assert alice.state == ["disconnected"] and not alice.of("SIGNALING_CONNECTED")
    alice.app.dispatch("SIGNALING_URL_CHANGED", {"url": relay.url})
    await alice.app.settle()
    assert alice.state == ["disconnected"]
    alice.actor.send("CONNECT")
    await alice.wait_for(lambda: alice.state == ["connected"])
