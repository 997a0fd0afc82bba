"""Bad input and hostile payloads: a precise error or a dropped message, and nothing lost."""

from __future__ import annotations

import json

import pytest

from chatkernel.relay.protocol import b64url_decode, b64url_encode

from features.messaging.errors import InvalidMessageError, NotReadyError

pytestmark = pytest.mark.anyio


async def _nothing_stored(person) -> bool:
    return (await person.db.fetchall("SELECT * FROM messaging_messages") == []
            and await person.db.fetchall("SELECT * FROM signaling_outbox") == [])


@pytest.mark.parametrize(("peer", "body", "field", "reason"), [
    ("not-a-user-id", "hi", "peer", "must be a user id"),
    (None, "hi", "peer", "must be a user id"),
    ("BOB", "", "body", "is empty"),
    ("BOB", " \n\t", "body", "is empty"),
    ("BOB", b"bytes", "body", "must be a str"),
    ("BOB", "x" * 32_001, "body", "32001 bytes, over the limit of 32000"),
    ("BOB", "\ud800", "body", "lone surrogate"),
    ("SELF", "hi", "peer", "your own user id"),
])
async def test_a_bad_send_is_refused_precisely_and_writes_nothing(people, peer, body, field, reason):
    alice, bob = await people("Alice", "Bob")
    peer = {"BOB": bob.user_id, "SELF": alice.user_id}.get(peer, peer)
    with pytest.raises(InvalidMessageError, match=reason) as caught:
        await alice.messaging.send(peer, body)
    assert caught.value.field == field and str(caught.value).startswith(f"cannot send: {field}")
    assert await _nothing_stored(alice)


async def test_a_bad_message_id_is_refused(people):
    alice, bob = await people("Alice", "Bob")
    with pytest.raises(InvalidMessageError, match="message_id"):
        await alice.messaging.send(bob.user_id, "hi", message_id="spaces are not allowed")
    assert await _nothing_stored(alice)


async def test_sending_while_logged_out_says_log_in_first(people):
    alice, bob = await people("Alice", "Bob")
    await alice.db.close()
    with pytest.raises(NotReadyError, match="log in first"):
        await alice.messaging.send(bob.user_id, "hi")
    with pytest.raises(NotReadyError):
        await alice.messaging.history(bob.user_id)


async def _captured(bob, alice, relay):
    """A genuine relay payload from alice to bob, taken off the relay before bob saw it."""
    bob.app.actors["signaling"].send("DISCONNECT")
    await bob.wait_for(lambda: bob.app.actors["signaling"].state == ["disconnected"])
    before = len(alice.of("SECURE_MESSAGE_SENT"))
    await alice.messaging.send(bob.user_id, "genuine")
    await alice.wait_for(lambda: len(alice.of("SECURE_MESSAGE_SENT")) == before + 1)
    # The last one is the genuine message ("first" may still wait for bob's next poll's ack).
    *_, held = await relay.store.read(bob.user_id, None, limit=100, max_bytes=1 << 22)
    await relay.store.ack(bob.user_id, held.id)
    bob.app.actors["signaling"].send("CONNECT")
    await bob.wait_for(lambda: bob.app.actors["signaling"].state == ["connected"])
    return json.loads(held.payload)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: "just a string", "malformed"),
    (lambda p: {"v": 2, "envelope": p["envelope"]}, "malformed"),
    (lambda p: {**p, "extra": 1}, "malformed"),
    (lambda p: {"v": 1, "envelope": p["envelope"] + "="}, "malformed"),
    (lambda p: {"v": 1, "envelope": _flip(p["envelope"], -1)}, "authentication"),   # the tag
    (lambda p: {"v": 1, "envelope": _flip(p["envelope"], -30)}, "authentication"),  # the ciphertext
    # Bob has not answered yet, so alice's envelopes still carry X3DH's header: its identity key.
    (lambda p: {"v": 1, "envelope": _flip(p["envelope"], 3)}, "identity_mismatch"),
    (lambda p: {"v": 1, "envelope": _flip(p["envelope"], 100)}, "authentication"),  # the header's base key
    (lambda p: {"v": 1, "envelope": b64url_encode(b"\x09" + b64url_decode(p["envelope"])[1:])}, "malformed"),
])
async def test_a_tampered_payload_is_dropped_and_changes_nothing(people, relay, make, reason):
    alice, bob = await people("Alice", "Bob")
    await alice.messaging.send(bob.user_id, "first")  # the session exists on both sides
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    genuine = await _captured(bob, alice, relay)

    await alice.signaling.send(bob.user_id, make(genuine))  # straight through the relay, past messaging
    await bob.wait_for(lambda: bob.of("UNREADABLE_MESSAGE"))
    [dropped] = bob.of("UNREADABLE_MESSAGE")
    assert (dropped["peer"], dropped["reason"]) == (alice.user_id, reason)
    # Acknowledged for good: the relay is told, and it is never delivered again.
    assert await bob.signaling.is_pending(dropped["relay_id"]) is False

    # Bob's session did not move: the genuine envelope still opens, and so does the next one.
    await alice.signaling.send(bob.user_id, genuine)
    await alice.messaging.send(bob.user_id, "after the attack")
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 3)
    assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == ["first", "genuine",
                                                                              "after the attack"]
    assert not bob.of("FEATURE_ERROR")


async def test_a_replayed_envelope_is_dropped_as_a_duplicate(people, relay):
    alice, bob = await people("Alice", "Bob")
    await alice.messaging.send(bob.user_id, "first")
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    genuine = await _captured(bob, alice, relay)
    await alice.signaling.send(bob.user_id, genuine)
    await alice.signaling.send(bob.user_id, genuine)  # the same envelope under a new relay id
    await bob.wait_for(lambda: bob.of("UNREADABLE_MESSAGE"))
    assert [d["reason"] for d in bob.of("UNREADABLE_MESSAGE")] == ["duplicate"]
    assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == ["first", "genuine"]


def _flip(envelope: str, index: int) -> str:
    out = bytearray(b64url_decode(envelope))
    out[index] ^= 0x01
    return b64url_encode(bytes(out))


async def test_a_message_from_a_stranger_without_a_session_is_dropped(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    await alice.messaging.send(bob.user_id, "to bob")
    bob.app.actors["signaling"].send("DISCONNECT")
    await bob.wait_for(lambda: bob.app.actors["signaling"].state == ["disconnected"])
    await alice.messaging.send(bob.user_id, "second")
    await alice.wait_for(lambda: len(alice.of("SECURE_MESSAGE_SENT")) == 2)
    await carol.signaling.send(bob.user_id, {"v": 1, "envelope": b64url_encode(b"\x01" + bytes(80))})
    bob.app.actors["signaling"].send("CONNECT")
    await bob.wait_for(lambda: bob.of("UNREADABLE_MESSAGE") and len(bob.of("SECURE_MESSAGE_RECEIVED")) == 2)
    assert [(d["peer"], d["reason"]) for d in bob.of("UNREADABLE_MESSAGE")] == [(carol.user_id, "no_session")]
