"""The signaling feature against a real relay on loopback.

No test sleeps to prove that nothing happened: each waits (bounded) for a positive sign that
the system got past the point where it would have happened, then checks the absence.
"""


import pytest

from chatkernel import BootError, FeatureContractError, PayloadError, bootstrap
from chatkernel.relay import EmbeddedRelay

import features.signaling as signaling
from features.signaling._config import SignalingConfig
from features.signaling.events import RELAY_MESSAGE_RECEIVED

pytestmark = pytest.mark.anyio


async def test_two_users_exchange_messages_both_ways(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.state == ["connected"] and bob.state == ["connected"])
    assert alice.of("SIGNALING_CONNECTED") == [{"url": relay.url, "user_id": alice.service.user_id}]
    result = await alice.service.send(bob.service.user_id, {"text": "hi bob"})
    assert result["duplicate"] is False
    bob.app.dispatch("RELAY_SEND_REQUESTED", {"to": alice.service.user_id, "payload": {"text": "hi alice"},
                                                "id": "m-1"})
    await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_RECEIVED") and alice.of("RELAY_MESSAGE_RECEIVED"))
    [got] = bob.of("RELAY_MESSAGE_RECEIVED")
    assert got["sender"] == alice.service.user_id and got["payload"] == {"text": "hi bob"}
    assert alice.of("RELAY_MESSAGE_RECEIVED")[0]["payload"] == {"text": "hi alice"}
    assert alice.of("RELAY_MESSAGE_RECEIVED")[0]["sender"] == bob.service.user_id
    await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_SENT"))
    assert bob.of("RELAY_MESSAGE_SENT")[0]["id"] == "m-1"
    received = [e for e in bob.events if e.type == "RELAY_MESSAGE_RECEIVED"]
    assert received[0].priority.name == "HIGH" and received[0].source == "signaling"


async def test_message_received_from_a_real_relay_matches_its_spec_and_starts_a_new_chain(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    await alice.service.send(bob.service.user_id, {"text": "hello"})
    await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_RECEIVED"))
    [event] = [e for e in bob.events if e.type == "RELAY_MESSAGE_RECEIVED"]
    assert set(event.payload) == set(RELAY_MESSAGE_RECEIVED.fields) == {"relay_id", "sender", "ts", "payload"}
    assert event.payload["sender"] == alice.service.user_id
    assert event.payload["payload"] == {"text": "hello"}
    assert isinstance(event.payload["relay_id"], str) and isinstance(event.payload["ts"], int)
    RELAY_MESSAGE_RECEIVED.check(event.payload)
    # It comes from outside (the relay, through the long poll): a new causal chain, not one
    # hanging off the APP_READY that started the connection.
    [ready] = [e for e in bob.events if e.type == "APP_READY"]
    assert event.cause is None and event.cause != ready.id
    assert (event.source, event.priority) == ("signaling", RELAY_MESSAGE_RECEIVED.priority)


async def test_resend_with_same_id_is_flagged_duplicate_and_delivered_once(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    first = await alice.service.send(bob.service.user_id, "x", message_id="same")
    again = await alice.service.send(bob.service.user_id, "x", message_id="same")
    assert (first["duplicate"], again["duplicate"]) == (False, True) and first["relayId"] == again["relayId"]
    # The relay delivers a mailbox in order: once a later message is in, a second copy of the
    # first one would have arrived before it.
    await alice.service.send(bob.service.user_id, "later", message_id="next")
    await bob.wait_for(lambda: any(m["payload"] == "later" for m in bob.of("RELAY_MESSAGE_RECEIVED")))
    assert [m["payload"] for m in bob.of("RELAY_MESSAGE_RECEIVED")] == ["x", "later"]
    assert bob.service.received == 2


async def test_messages_arrive_in_order(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    for n in range(30):
        alice.service.enqueue(bob.service.user_id, {"n": n})
    await bob.wait_for(lambda: len(bob.of("RELAY_MESSAGE_RECEIVED")) == 30)
    assert [m["payload"]["n"] for m in bob.of("RELAY_MESSAGE_RECEIVED")] == list(range(30))


async def test_insecure_or_invalid_url_is_refused_and_nothing_changes(relay, peers):
    alice = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected)
    alice.url_changed("http://relay.example.org")
    alice.url_changed("gopher://x")
    alice.url_changed("http://127.0.0.1/?")
    await alice.app.settle()
    reasons = [r["reason"] for r in alice.of("SIGNALING_URL_REJECTED")]
    assert len(reasons) == 3
    assert "non-loopback" in reasons[0] and "scheme" in reasons[1] and "query" in reasons[2]
    assert alice.state == ["connected"] and alice.service.url == relay.url


async def test_a_remote_plain_http_relay_is_adopted_only_when_the_url_change_allows_it(remote_relay_url, peers):
    remote = remote_relay_url
    alice = await peers()
    await alice.app.settle()
    alice.url_changed(remote)  # allow_insecure_remote=False
    await alice.app.settle()
    [rejected] = alice.of("SIGNALING_URL_REJECTED")
    assert rejected["url"] == remote and "non-loopback" in rejected["reason"]
    assert alice.service.url is None and alice.state == ["disconnected"]

    alice.url_changed(remote, allow_insecure_remote=True)
    await alice.wait_for(lambda: alice.state == ["connected"] and alice.of("SIGNALING_CONNECTED"))
    assert alice.of("SIGNALING_CONNECTED") == [{"url": remote, "user_id": alice.service.user_id}]
    assert alice.service.url == remote and alice.service.allow_insecure is True

    # The permission travels with each announcement; one without it is refused again.
    alice.url_changed(remote + "/", allow_insecure_remote=False)
    # ... and it never excuses a malformed URL.
    alice.url_changed(remote + "/?", allow_insecure_remote=True)
    await alice.app.settle()
    reasons = [r["reason"] for r in alice.of("SIGNALING_URL_REJECTED")]
    assert len(reasons) == 3 and "non-loopback" in reasons[1] and "query" in reasons[2]
    assert alice.state == ["connected"] and alice.service.url == remote
    assert not alice.of("FEATURE_ERROR")


async def test_connect_without_url_and_disconnect_on_request(relay, peers):
    alice = await peers(auto_connect=True)
    alice.actor.send("CONNECT")
    await alice.app.settle()
    assert alice.state == ["disconnected"]
    assert alice.of("SIGNALING_URL_REJECTED") == [{"url": None, "reason": "no relay URL is set"}]
    alice.url_changed(relay.url)
    await alice.wait_for(lambda: alice.state == ["connected"])
    alice.actor.send("DISCONNECT")
    await alice.actor.settle()
    await alice.app.settle()
    assert alice.state == ["disconnected"] and not alice.service.connected
    assert alice.of("SIGNALING_DISCONNECTED") == [{"url": relay.url, "reason": "disconnected on request"}]


async def test_switching_relays_reconnects_to_the_new_one(peers):
    async with EmbeddedRelay.start() as one, EmbeddedRelay.start() as two:
        alice = await peers(url=one.url)
        bob = await peers(url=two.url)
        await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
        alice.url_changed(two.url)
        await alice.wait_for(lambda: len(alice.of("SIGNALING_CONNECTED")) == 2)
        assert alice.service.url == two.url
        await alice.service.send(bob.service.user_id, "over the new relay")
        await bob.wait_for(lambda: bob.of("RELAY_MESSAGE_RECEIVED"))


async def test_reconnects_after_relay_restart_without_losing_or_duplicating(tmp_path, peers):
    store = f"sqlite:{tmp_path / 'relay.db'}"
    server = await EmbeddedRelay.start(store=store)
    port = server.port
    alice = await peers(url=server.url)
    bob = await peers(url=server.url)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    for n in range(3):
        await alice.service.send(bob.service.user_id, {"n": n})
    await bob.wait_for(lambda: len(bob.of("RELAY_MESSAGE_RECEIVED")) == 3)

    await server.stop()
    await bob.wait_for(lambda: bob.of("CONNECTION_LOST"))
    await alice.wait_for(lambda: alice.of("CONNECTION_LOST"))
    assert "reconnecting" in bob.state or "connecting" in bob.state
    pending = [alice.service.enqueue(bob.service.user_id, {"n": n}) for n in range(3, 6)]
    # The relay is down: wait until alice has tried (and failed) to reconnect after the sends
    # were queued, then they must still be waiting in the outbox.
    lost = len(alice.of("CONNECTION_LOST"))
    await alice.wait_for(lambda: len(alice.of("CONNECTION_LOST")) > lost)
    assert alice.service.pending_sends == 3 and not any(m.future.done() for m in pending)
    assert len(alice.of("RELAY_MESSAGE_SENT")) == 3 and len(bob.of("RELAY_MESSAGE_RECEIVED")) == 3

    server = await EmbeddedRelay.start(store=store, port=port)
    try:
        await alice.wait_for(lambda: all(m.future.done() for m in pending))
        assert [m.future.result()["duplicate"] for m in pending] == [False, False, False]
        # A last message: once it is in, any duplicate of an earlier one would be in too.
        await alice.service.send(bob.service.user_id, {"n": 6})
        await bob.wait_for(lambda: any(m["payload"]["n"] == 6 for m in bob.of("RELAY_MESSAGE_RECEIVED")))
        assert [m["payload"]["n"] for m in bob.of("RELAY_MESSAGE_RECEIVED")] == list(range(7))
        assert bob.state == ["connected"] and alice.state == ["connected"]
        lost = bob.of("CONNECTION_LOST")[0]
        assert lost["url"] == server.url and lost["attempt"] >= 1 and lost["retry_in_s"] >= 0
        assert alice.service.pending_sends == 0
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
    await bob.wait_for(lambda: len(bob.of("RELAY_MESSAGE_RECEIVED")) == 2)
    await server.stop()
    server = await EmbeddedRelay.start(port=port)  # a fresh, empty relay on the same address
    try:
        await bob.wait_for(lambda: bob.service.connected and alice.service.connected)
        await alice.service.send(bob.service.user_id, {"n": 2})
        await bob.wait_for(lambda: len(bob.of("RELAY_MESSAGE_RECEIVED")) == 3)
        assert [m["payload"]["n"] for m in bob.of("RELAY_MESSAGE_RECEIVED")] == [0, 1, 2]
    finally:
        for peer in (alice, bob):
            await peer.app.shutdown()
        await server.stop()


async def test_permanent_send_failure_is_reported(relay, peers):
    alice = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected)
    alice.app.dispatch("RELAY_SEND_REQUESTED", {"to": "not a user id", "payload": "x", "id": "bad-1"})
    await alice.wait_for(lambda: alice.of("RELAY_SEND_FAILED"))
    [failed] = alice.of("RELAY_SEND_FAILED")
    assert failed["id"] == "bad-1" and "422" in failed["reason"]
    alice.app.dispatch("RELAY_SEND_REQUESTED", {"to": "", "payload": "x"})
    await alice.wait_for(lambda: len(alice.of("RELAY_SEND_FAILED")) == 2)
    assert alice.of("RELAY_SEND_FAILED")[1] == {"id": None, "to": "", "reason": "recipient must be a user id, got ''"}
    # A request without a recipient does not match the spec: strict mode refuses it at dispatch.
    with pytest.raises(PayloadError) as info:
        alice.app.dispatch("RELAY_SEND_REQUESTED", {"payload": "x"})
    assert (info.value.event_type, info.value.field) == ("RELAY_SEND_REQUESTED", "to")


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
    alice.url_changed(relay.url)
    await alice.app.settle()
    assert alice.state == ["disconnected"] and alice.service.url == relay.url
    alice.actor.send("CONNECT")
    await alice.wait_for(lambda: alice.state == ["connected"])


# ---------------------------------------------------------------------------------- settings record

def test_the_settings_record_holds_the_defaults():
    assert signaling.feature.settings == SignalingConfig()
    assert not hasattr(SignalingConfig(), "allow_insecure_remote")  # the settings feature's switch


async def test_overrides_land_in_the_record(relay, identities):
    app = await bootstrap([*identities.features, signaling.feature],
                          settings=identities.settings(signaling={"url": relay.url, "poll_timeout_s": 2.0,
                                                                  "auto_connect": False}))
    try:
        assert app.registry.settings_for("signaling") == SignalingConfig(url=relay.url, poll_timeout_s=2.0,
                                                                         auto_connect=False)
        service = app.registry.mount_result("signaling").service
        assert service.url == relay.url and service.poll_timeout_s == 2.0
        assert app.actors["signaling"].state == ["disconnected"]
    finally:
        await app.shutdown()


@pytest.mark.parametrize(("override", "key"), [
    ({"poll_timeout_s": "soon"}, "poll_timeout_s"),
    ({"auto_connect": "yes"}, "auto_connect"),
    ({"url": 8765}, "url"),
    ({"allow_insecure_remote": True}, "allow_insecure_remote"),  # no longer a signaling setting
    ({"pol_timeout_s": 1.0}, "pol_timeout_s"),
])
async def test_an_unknown_or_mistyped_override_is_refused_at_boot(override, key, identities):
    with pytest.raises(BootError) as info:
        await bootstrap([*identities.features, signaling.feature], settings=identities.settings(signaling=override))
    assert "signaling" in str(info.value) and key in str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, FeatureContractError)
    assert (cause.feature_id, cause.key) == ("signaling", key)


async def test_a_configured_start_url_is_held_to_the_url_policy(identities):
    app = await bootstrap([*identities.features, signaling.feature],
                          settings=identities.settings(signaling={"url": "http://relay.example.org"}))
    try:
        assert app.degraded
        assert "InsecureURLError" in app.report.failed["signaling"]
    finally:
        await app.shutdown()
