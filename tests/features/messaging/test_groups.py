"""Groups end to end through a real relay: invitations, sender-key fan-out, per-member receipts,
renames, removals with key rotation, leaving, and the attacks a member or the relay could try."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from chatkernel.relay.protocol import b64url_decode, b64url_encode
from features.messaging import _wire
from features.messaging.errors import AlreadySentError, GroupPermissionError, InvalidMessageError, UnknownGroupError
from features.messaging.service import MessagingService

pytestmark = pytest.mark.anyio


async def _quiet(relay: Any, *people: Any) -> None:
    """Until nothing is on its way (no control due, nothing to send, every mailbox read), twice
    in a row: then every invitation, update and key has been taken up."""
    calm = 0
    for _ in range(1000):
        busy = False
        for person in people:
            busy |= bool(await person.messaging.flush_group_controls())
            busy |= bool(person.signaling.pending_sends)
            busy |= bool(await relay.store.length(person.user_id))
        calm = 0 if busy else calm + 1
        if calm >= 3:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the group did not settle")


async def _trio(people: Any, relay: Any) -> tuple[Any, Any, Any, str]:
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = await alice.messaging.create_group("Trip", [bob.user_id, carol.user_id])
    await _quiet(relay, alice, bob, carol)
    return alice, bob, carol, group


def _bodies(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["author"], r["body"]) for r in rows]


async def test_a_group_of_three_talks_with_per_member_receipts(people, relay):
    alice, bob, carol, group = await _trio(people, relay)
    for person in (alice, bob, carol):
        info = await person.messaging.group(group)
        assert info["name"] == "Trip" and info["admin"] == alice.user_id and info["state"] == "active"
        assert info["members"] == sorted([alice.user_id, bob.user_id, carol.user_id])
    assert {"group": group, "change": "joined", "by": alice.user_id} in bob.of("GROUP_CHANGED")

    message_id = await alice.messaging.send(group, "hello, both")
    for person in (bob, carol):
        await person.wait_for(lambda person=person: any(e["peer"] == group for e in person.of("SECURE_MESSAGE_RECEIVED")))
        assert _bodies(await person.messaging.history(group)) == [(alice.user_id, "hello, both")]
    assert [e for e in bob.of("SECURE_MESSAGE_RECEIVED") if e["peer"] == group][0]["author"] == alice.user_id
    await alice.wait_for(lambda: any(e["peer"] == group for e in alice.of("SECURE_MESSAGE_SENT")))
    assert await alice.messaging.receipts(group, message_id) == {bob.user_id: "sent", carol.user_id: "sent"}

    await bob.messaging.deliver_receipt(group, [message_id])
    for _ in range(500):
        if (await alice.messaging.receipts(group, message_id))[bob.user_id] == "delivered":
            break
        await asyncio.sleep(0.01)
    assert (await alice.messaging.message(group, message_id))["status"] == "sent"  # carol has not said yet
    await carol.messaging.deliver_receipt(group, [message_id])
    await alice.wait_for(lambda: {"peer": group, "kind": "delivered", "ids": [message_id]} in alice.of("RECEIPT_RECEIVED"))
    assert (await alice.messaging.message(group, message_id))["status"] == "delivered"
    assert await bob.messaging.mark_read(group) == [message_id]
    assert await carol.messaging.mark_read(group) == [message_id]
    await alice.wait_for(lambda: {"peer": group, "kind": "read", "ids": [message_id]} in alice.of("RECEIPT_RECEIVED"))

    reply = await bob.messaging.send(group, "hi alice", reply_to=message_id)
    for person in (alice, carol):
        await person.wait_for(lambda person=person: any(e["id"] == reply for e in person.of("SECURE_MESSAGE_RECEIVED")))
    carols = await carol.messaging.history(group)
    assert _bodies(carols) == [(alice.user_id, "hello, both"), (bob.user_id, "hi alice")]
    assert carols[1]["reply_to"] == message_id

    await bob.messaging.edit(group, reply, "hi Alice!")
    await carol.wait_for(lambda: any(e["id"] == reply for e in carol.of("SECURE_MESSAGE_CHANGED")))
    assert (await carol.messaging.message(group, reply))["body"] == "hi Alice!"
    assert await bob.messaging.typing(group) is True
    await carol.wait_for(lambda: {"peer": group, "author": bob.user_id} in carol.of("PEER_TYPING"))
    assert not await carol.db.fetchone("SELECT 1 FROM messaging_group_parked")


async def test_only_the_admin_changes_the_group_and_renames_reach_everyone(people, relay):
    alice, bob, carol, group = await _trio(people, relay)
    with pytest.raises(GroupPermissionError, match="admin"):
        await bob.messaging.rename_group(group, "Mine now")
    with pytest.raises(GroupPermissionError, match="admin"):
        await bob.messaging.remove_member(group, carol.user_id)
    await alice.messaging.rename_group(group, "  Summer trip ")
    for person in (bob, carol):
        await person.wait_for(lambda person=person: {"group": group, "change": "renamed", "by": alice.user_id}
                              in person.of("GROUP_CHANGED"))
        assert (await person.messaging.group(group))["name"] == "Summer trip"


async def test_a_removed_member_reads_nothing_after_and_cannot_send(people, relay):
    alice, bob, carol, group = await _trio(people, relay)
    await alice.messaging.remove_member(group, carol.user_id)
    await carol.wait_for(lambda: {"group": group, "change": "removed", "by": alice.user_id} in carol.of("GROUP_CHANGED"))
    await bob.wait_for(lambda: {"group": group, "change": "members", "by": alice.user_id} in bob.of("GROUP_CHANGED"))
    assert (await carol.messaging.group(group))["state"] == "removed"
    with pytest.raises(GroupPermissionError, match="removed"):
        await carol.messaging.send(group, "still here?")
    await _quiet(relay, alice, bob, carol)

    # the relay (or anyone) copies a later group message into carol's mailbox: she cannot open it
    bobs = await bob.messaging.send(group, "after carol")
    await alice.wait_for(lambda: any(e["id"] == bobs for e in alice.of("SECURE_MESSAGE_RECEIVED")))
    row = await bob.db.fetchone("SELECT payload FROM signaling_outbox WHERE id = ?", (f"{bobs}.{alice.user_id}",))
    sealed = row and json.loads(row[0])
    if sealed is None:  # sent already: seal one more to read its bytes
        captured: list[bytes] = []
        original = bob.service("crypto").encrypt_group

        async def capture(group_id: str, plaintext: bytes, *, on_commit: Any = None) -> bytes:
            out = await original(group_id, plaintext, on_commit=on_commit)
            captured.append(out)
            return out
        bob.service("crypto").encrypt_group = capture
        await bob.messaging.send(group, "after carol, again")
        sealed = _wire.payload(captured[0], group.split(":")[1])
    envelope, group_id = _wire.parse_payload(sealed)
    with pytest.raises(Exception) as refused:
        await carol.service("crypto").decrypt_group(group_id, bob.user_id, envelope)
    assert carol.service("crypto").refusal_reason(refused.value) is not None
    outcome = await MessagingService.receive(carol.messaging, {"relay_id": "copied-1", "sender": bob.user_id,
                                                                "payload": sealed})
    assert outcome == "unreadable"
    assert all(r["body"] != "after carol" for r in await carol.messaging.history(group))


async def test_leaving_keeps_the_conversation_read_only_and_the_others_go_on(people, relay):
    alice, bob, carol, group = await _trio(people, relay)
    await alice.messaging.send(group, "before")
    await carol.wait_for(lambda: any(e["peer"] == group for e in carol.of("SECURE_MESSAGE_RECEIVED")))
    await alice.messaging.leave_group(group)  # the admin leaves: the least remaining user id takes over
    new_admin = min(bob.user_id, carol.user_id)
    for person in (bob, carol):
        await person.wait_for(lambda person=person: {"group": group, "change": "members", "by": alice.user_id}
                              in person.of("GROUP_CHANGED"))
        info = await person.messaging.group(group)
        assert info["admin"] == new_admin and alice.user_id not in info["members"]
    left = await alice.messaging.group(group)
    assert left["state"] == "left" and left["admin"] == new_admin
    with pytest.raises(GroupPermissionError, match="left"):
        await alice.messaging.send(group, "hello?")
    assert _bodies(await alice.messaging.history(group)) == [(alice.user_id, "before")]
    await _quiet(relay, alice, bob, carol)
    said = await carol.messaging.send(group, "just us")
    await bob.wait_for(lambda: any(e["id"] == said for e in bob.of("SECURE_MESSAGE_RECEIVED")))


async def test_a_forged_author_and_a_stranger_are_refused(people, relay):
    alice, bob, carol, group = await _trio(people, relay)
    captured: list[bytes] = []
    original = carol.service("crypto").encrypt_group

    async def capture(group_id: str, plaintext: bytes, *, on_commit: Any = None) -> bytes:
        out = await original(group_id, plaintext, on_commit=on_commit)
        captured.append(out)
        return out
    carol.service("crypto").encrypt_group = capture
    said = await carol.messaging.send(group, "from carol")
    await bob.wait_for(lambda: any(e["id"] == said for e in bob.of("SECURE_MESSAGE_RECEIVED")))
    sealed = _wire.payload(captured[0], group.split(":")[1])
    # the relay says alice sent carol's ciphertext: signed by carol's key, refused as alice's
    assert await MessagingService.receive(bob.messaging, {"relay_id": "forged-1", "sender": alice.user_id,
                                                          "payload": sealed}) == "unreadable"
    await bob.wait_for(lambda: bob.of("UNREADABLE_MESSAGE"))
    assert bob.of("UNREADABLE_MESSAGE")[-1]["reason"] in ("forged", "unknown_sender_key")
    # the relay delivers carol's message again under another id: a replay, refused
    assert await MessagingService.receive(bob.messaging, {"relay_id": "replayed-1", "sender": carol.user_id,
                                                          "payload": sealed}) == "unreadable"
    await bob.wait_for(lambda: bob.of("UNREADABLE_MESSAGE")[-1]["relay_id"] == "replayed-1")
    assert bob.of("UNREADABLE_MESSAGE")[-1]["reason"] == "duplicate"
    # flipping a byte of the ciphertext: refused, nothing stored
    envelope = bytearray(b64url_decode(sealed["envelope"]))
    envelope[20] ^= 1
    tampered = {**sealed, "envelope": b64url_encode(bytes(envelope))}
    assert await MessagingService.receive(bob.messaging, {"relay_id": "tampered-1", "sender": carol.user_id,
                                                          "payload": tampered}) == "unreadable"
    assert _bodies(await bob.messaging.history(group)) == [(carol.user_id, "from carol")]
    # a stranger cannot invite themselves in: an update from someone not the admin is void
    dave, = await people("Dave")
    fake = _wire.GroupControl(group.split(":")[1], "update", "Hijacked",
                              tuple(sorted([alice.user_id, bob.user_id, carol.user_id, dave.user_id])), dave.user_id,
                              await dave.service("crypto").create_group(group.split(":")[1], [dave.user_id]))
    await dave.messaging._seal(bob.user_id, _wire.Content("fake-1", "group", "", 1, group=fake), None)
    await dave.signaling.wake()
    await _quiet(relay, dave, bob)
    assert (await bob.messaging.group(group))["name"] == "Trip"
    assert dave.user_id not in (await bob.messaging.group(group))["members"]


async def test_a_message_before_its_invitation_waits_and_is_shown_once(people, relay, monkeypatch):
    """The relay orders each mailbox, not the senders: carol's key and message can reach bob
    before alice's invitation. Bob's deliveries are held and handed over in the worst order."""
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    held: dict[str, dict[str, Any]] = {}

    async def hold(payload: dict[str, Any]) -> str:
        held.setdefault(str(payload["relay_id"]), dict(payload))
        bob.signaling.settle(str(payload["relay_id"]), False)
        return "kept"
    monkeypatch.setattr(bob.messaging, "receive", hold)
    group = await alice.messaging.create_group("Late", [bob.user_id, carol.user_id])
    await carol.wait_for(lambda: {"group": group, "change": "joined", "by": alice.user_id} in carol.of("GROUP_CHANGED"))
    said = await carol.messaging.send(group, "am I early?")
    await bob.wait_for(lambda: len(held) >= 3)
    by_sender = sorted(held.values(), key=lambda p: (p["sender"] == alice.user_id, "group" not in p["payload"]))
    # carol's group message first, then alice's invitation, then carol's key
    order = [p for p in by_sender if "group" in p["payload"]] + [p for p in by_sender if p["sender"] == alice.user_id] \
        + [p for p in by_sender if p["sender"] == carol.user_id and "group" not in p["payload"]]
    outcomes = [await MessagingService.receive(bob.messaging, p) for p in order]
    assert outcomes[0] == "parked"
    history = await bob.messaging.history(group)
    assert _bodies(history) == [(carol.user_id, "am I early?")] and history[0]["id"] == said
    assert not await bob.db.fetchone("SELECT 1 FROM messaging_group_parked")
    again = [await MessagingService.receive(bob.messaging, p) for p in order]  # delivered again: void
    assert set(again) <= {"already stored", "unreadable"}
    assert len(await bob.messaging.history(group)) == 1
    assert [e["id"] for e in bob.of("SECURE_MESSAGE_RECEIVED") if e["peer"] == group] == [said]


async def test_bad_input_is_refused_before_anything_is_written(people):
    alice, bob = await people("Alice", "Bob")
    cases = [("", [bob.user_id], "name"), ("x" * 65, [bob.user_id], "name"), ("a\x00b", [bob.user_id], "name"),
             (3, [bob.user_id], "name"), ("ok", [], "members"), ("ok", bob.user_id, "members"),
             ("ok", [alice.user_id], "members"), ("ok", [bob.user_id, bob.user_id], "members"),
             ("ok", ["not-a-user"], "members"), ("ok", [bob.user_id] * 64, "members")]
    for name, members, field in cases:
        with pytest.raises(InvalidMessageError) as error:
            await alice.messaging.create_group(name, members)
        assert error.value.field == field
    assert await alice.messaging.groups() == []
    assert not await alice.db.fetchone("SELECT 1 FROM messaging_group_due")
    with pytest.raises(UnknownGroupError):
        await alice.messaging.group("group:" + "0" * 32)
    with pytest.raises(UnknownGroupError):
        await alice.messaging.send("group:" + "0" * 32, "hello")
    with pytest.raises(InvalidMessageError, match="group conversation id"):
        await alice.messaging.rename_group("group:nothex", "x")
    group = await alice.messaging.create_group("Pair", [bob.user_id])
    with pytest.raises(InvalidMessageError, match="in the group already"):
        await alice.messaging.add_members(group, [bob.user_id])
    with pytest.raises(InvalidMessageError, match="leave"):
        await alice.messaging.remove_member(group, alice.user_id)
    with pytest.raises(InvalidMessageError, match="over 95"):
        await alice.messaging.send(group, "hi", message_id="m" * 96)
    await alice.messaging.send(group, "once", message_id="m-once")
    with pytest.raises(AlreadySentError):  # a retried send after a restart: nothing written again
        await alice.messaging.send(group, "once", message_id="m-once")
    assert [r["body"] for r in await alice.messaging.history(group)] == ["once"]
    assert set(await alice.messaging.receipts(group, "m-once")) == {bob.user_id}
    assert len(await alice.db.fetchall("SELECT 1 FROM signaling_outbox WHERE id LIKE 'm-once.%'")) <= 1


async def test_a_member_added_later_gets_everyones_key_and_the_next_message(people, relay):
    alice, bob = await people("Alice", "Bob")
    group = await alice.messaging.create_group("Grows", [bob.user_id])
    await _quiet(relay, alice, bob)
    carol, = await people("Carol")
    await alice.messaging.add_members(group, [carol.user_id])
    await _quiet(relay, alice, bob, carol)
    said = await bob.messaging.send(group, "welcome carol")
    await carol.wait_for(lambda: any(e["id"] == said for e in carol.of("SECURE_MESSAGE_RECEIVED")))
    assert (await carol.messaging.group(group))["members"] == sorted([alice.user_id, bob.user_id, carol.user_id])


async def test_a_made_up_member_does_not_hold_the_group_up(people, relay):
    """An invitation may name a user id nobody holds (a hostile admin, a typo): the controls for
    it are dropped once the relay says there is no such user, and the others talk."""
    alice, bob = await people("Alice", "Bob")
    nobody = "a" * 32
    group = await alice.messaging.create_group("Ghost", [bob.user_id, nobody])
    await _quiet(relay, alice, bob)  # nothing stays due: the controls for nobody went nowhere
    assert not await alice.db.fetchone("SELECT 1 FROM messaging_group_due")
    assert not await bob.db.fetchone("SELECT 1 FROM messaging_group_due")
    said = await bob.messaging.send(group, "just us two")
    await alice.wait_for(lambda: any(e["id"] == said for e in alice.of("SECURE_MESSAGE_RECEIVED")))
