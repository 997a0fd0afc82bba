"""Replies, edits, deletions, receipts and typing: sealed like any message, applied once, in the
receiving transaction, and only to what the sender may change."""

from __future__ import annotations

import json

import pytest

from features.messaging import _wire
from features.messaging.errors import AlreadySentError, InvalidMessageError, UnknownMessageError, WireFormatError

pytestmark = pytest.mark.anyio


async def _row(person, peer, message_id):
    return await person.messaging.message(peer, message_id)


async def test_reply_edit_and_delete_reach_the_other_side(people):
    alice, bob = await people("Alice", "Bob")
    first = await alice.messaging.send(bob.user_id, "lunch at 12?")
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    answer = await bob.messaging.send(alice.user_id, "yes", reply_to=first)
    await alice.wait_for(lambda: alice.of("SECURE_MESSAGE_RECEIVED"))
    assert (await _row(alice, bob.user_id, answer))["reply_to"] == first

    await alice.messaging.edit(bob.user_id, first, "lunch at 1?")
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_CHANGED"))
    assert bob.of("SECURE_MESSAGE_CHANGED") == [{"peer": alice.user_id, "id": first, "change": "edited"}]
    theirs, mine = await _row(bob, alice.user_id, first), await _row(alice, bob.user_id, first)
    assert theirs["body"] == mine["body"] == "lunch at 1?" and theirs["edited_at"] and mine["edited_at"]

    await alice.messaging.delete(bob.user_id, first)
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_CHANGED")) == 2)
    theirs, mine = await _row(bob, alice.user_id, first), await _row(alice, bob.user_id, first)
    assert (theirs["body"], theirs["deleted"], mine["body"], mine["deleted"]) == ("", True, "", True)
    with pytest.raises(InvalidMessageError, match="is deleted"):
        await alice.messaging.edit(bob.user_id, first, "too late")
    with pytest.raises(UnknownMessageError):
        await alice.messaging.delete(bob.user_id, answer)  # bob's, not alice's
    # edits and deletions are not messages of their own
    assert [r["id"] for r in await bob.messaging.history(alice.user_id)] == [first, answer]
    assert not alice.of("FEATURE_ERROR") and not bob.of("FEATURE_ERROR")


async def test_a_peer_cannot_edit_or_delete_what_someone_else_wrote(people):
    """Bob seals an edit naming alice's own message: alice's copy is hers (direction out), so it
    stays; and a receipt naming a message bob never got changes nothing either."""
    alice, bob = await people("Alice", "Bob")
    mine = await alice.messaging.send(bob.user_id, "my words")
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    await bob.messaging._control(alice.user_id, "edit", None, body="forged words", ref=mine)
    await bob.messaging._control(alice.user_id, "delete", None, ref=mine)
    await bob.messaging._control(alice.user_id, "read", None, refs=("never-sent-id",))
    await bob.messaging.send(alice.user_id, "marker")
    await alice.wait_for(lambda: alice.of("SECURE_MESSAGE_RECEIVED"))
    await alice.app.settle()
    row = await _row(alice, bob.user_id, mine)
    assert (row["body"], row["deleted"], row["edited_at"]) == ("my words", False, None)
    assert not alice.of("SECURE_MESSAGE_CHANGED") and not alice.of("RECEIPT_RECEIVED")


async def test_receipts_move_a_message_forward_and_never_back(people):
    alice, bob = await people("Alice", "Bob")
    ids = [await alice.messaging.send(bob.user_id, f"m{n}") for n in range(3)]
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 3)
    await bob.messaging.deliver_receipt(alice.user_id, ids)
    await alice.wait_for(lambda: alice.of("RECEIPT_RECEIVED"))
    assert alice.of("RECEIPT_RECEIVED")[0] == {"peer": bob.user_id, "kind": "delivered", "ids": ids}
    assert [r["status"] for r in await alice.messaging.history(bob.user_id)] == ["delivered"] * 3

    assert await bob.messaging.unread_counts() == {alice.user_id: 3}
    assert await bob.messaging.mark_read(alice.user_id, ids[1]) == ids[:2]
    assert await bob.messaging.unread_counts() == {alice.user_id: 1}
    await alice.wait_for(lambda: len(alice.of("RECEIPT_RECEIVED")) == 2)
    assert alice.of("RECEIPT_RECEIVED")[1]["ids"] == ids[:2]
    assert [r["status"] for r in await alice.messaging.history(bob.user_id)] == ["read", "read", "delivered"]

    await bob.messaging.deliver_receipt(alice.user_id, ids)  # late: nothing moves back, no event
    assert await bob.messaging.mark_read(alice.user_id) == ids[2:]
    await alice.wait_for(lambda: len(alice.of("RECEIPT_RECEIVED")) == 3)
    await alice.app.settle()
    assert [r["status"] for r in await alice.messaging.history(bob.user_id)] == ["read"] * 3
    assert [e["kind"] for e in alice.of("RECEIPT_RECEIVED")] == ["delivered", "read", "read"]
    assert await bob.messaging.mark_read(alice.user_id) == []


async def test_a_quiet_author_is_marked_read_untold_and_left_out_of_the_unread_counts(people):
    alice, bob = await people("Alice", "Bob")
    ids = [await alice.messaging.send(bob.user_id, f"m{n}") for n in range(2)]
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 2)
    assert await bob.messaging.unread_counts(ignore=[alice.user_id]) == {}
    assert await bob.messaging.unread_counts(ignore=()) == {alice.user_id: 2}
    for bad in (["not a user id"], "abc", [None], None, 7):
        with pytest.raises(InvalidMessageError, match="ignore"):
            await bob.messaging.unread_counts(ignore=bad)
        with pytest.raises(InvalidMessageError, match="quiet"):
            await bob.messaging.mark_read(alice.user_id, quiet=bad)
    assert await bob.messaging.unread_counts() == {alice.user_id: 2}  # the refused calls changed nothing
    assert await bob.messaging.mark_read(alice.user_id, quiet=[alice.user_id]) == ids
    assert [r["status"] for r in await bob.messaging.history(alice.user_id)] == ["read", "read"]
    later = await alice.messaging.send(bob.user_id, "m2")  # a told read after the untold one...
    await bob.wait_for(lambda: len(bob.of("SECURE_MESSAGE_RECEIVED")) == 3)
    assert await bob.messaging.mark_read(alice.user_id) == [later]
    await alice.wait_for(lambda: alice.of("RECEIPT_RECEIVED"))
    await alice.app.settle()
    assert alice.of("RECEIPT_RECEIVED") == [{"peer": bob.user_id, "kind": "read", "ids": [later]}]  # ...alone


async def test_typing_is_said_but_never_stored(people):
    alice, bob = await people("Alice", "Bob")
    assert await alice.messaging.typing(bob.user_id) is False  # no session yet: nothing fetched
    await alice.messaging.send(bob.user_id, "hi")
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    assert await alice.messaging.typing(bob.user_id) is True
    await bob.wait_for(lambda: bob.of("PEER_TYPING"))
    assert bob.of("PEER_TYPING") == [{"peer": alice.user_id, "author": alice.user_id}]
    assert len(await bob.messaging.history(alice.user_id)) == 1
    assert await alice.db.fetchall("SELECT id FROM signaling_outbox") == []


async def test_a_send_under_an_id_already_sent_changes_nothing(people):
    alice, bob = await people("Alice", "Bob")
    first = await alice.messaging.send(bob.user_id, "once")
    with pytest.raises(AlreadySentError):
        await alice.messaging.send(bob.user_id, "twice?", message_id=first)
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    await bob.app.settle()
    assert [r["body"] for r in await bob.messaging.history(alice.user_id)] == ["once"]
    assert [r["body"] for r in await alice.messaging.history(bob.user_id)] == ["once"]


async def test_a_failed_message_is_sent_again_by_retry(people):
    alice, bob = await people("Alice", "Bob")
    sent = await alice.messaging.send(bob.user_id, "try me")
    with pytest.raises(InvalidMessageError, match="not failed"):
        await alice.messaging.retry(bob.user_id, sent)
    await bob.wait_for(lambda: bob.of("SECURE_MESSAGE_RECEIVED"))
    await alice.db.execute("UPDATE messaging_messages SET status = 'failed' WHERE id = ?", (sent,))
    assert await alice.messaging.retry(bob.user_id, sent) == sent
    await alice.wait_for(lambda: len(alice.of("SECURE_MESSAGE_SENT")) == 2)
    assert (await _row(alice, bob.user_id, sent))["status"] == "sent"
    await bob.app.settle()
    assert len(await bob.messaging.history(alice.user_id)) == 1  # the relay's duplicate, stored once
    with pytest.raises(UnknownMessageError):
        await alice.messaging.retry(bob.user_id, "no-such-message")


async def test_search_and_paging(people):
    alice, bob = await people("Alice", "Bob")
    for n in range(12):
        await alice.messaging.send(bob.user_id, f"note {n} {'100%' if n == 7 else 'plain_text'}")
    assert [r["body"] for r in await alice.messaging.search(bob.user_id, "100%")] == ["note 7 100%"]
    assert len(await alice.messaging.search(bob.user_id, "_")) == 11  # a literal underscore, not a wildcard
    assert len(await alice.messaging.search(bob.user_id, "NOTE")) == 12
    last = await alice.messaging.history(bob.user_id, limit=5)
    before = await alice.messaging.history(bob.user_id, limit=5, before=last[0]["seq"])
    assert [r["body"].split()[1] for r in before + last] == [str(n) for n in range(2, 12)]
    for bad in ("", " ", "x" * 201, None):
        with pytest.raises(InvalidMessageError):
            await alice.messaging.search(bob.user_id, bad)
    with pytest.raises(InvalidMessageError):
        await alice.messaging.history(bob.user_id, before="3")


def _content(**fields):
    return json.dumps({"v": 1, "id": "m-1", "sentAt": 1, **fields}).encode()


@pytest.mark.parametrize("fields", [
    {"kind": "edit", "body": "x"},                      # an edit names its target
    {"kind": "delete"},
    {"kind": "delete", "ref": "m-0", "body": ""},       # a deletion carries no text
    {"kind": "read", "refs": []},
    {"kind": "read", "refs": ["m-0"] * 257},
    {"kind": "delivered", "refs": ["not an id!"]},
    {"kind": "delivered", "refs": "m-0"},
    {"kind": "typing", "body": "secret draft"},         # typing never carries the draft
    {"kind": "text", "body": " "},
    {"kind": "text", "body": "x", "ref": 5},
    {"kind": "text", "body": "x", "refs": ["m-0"]},
    {"kind": "shout", "body": "x"},
])
def test_the_content_parser_refuses_what_a_kind_does_not_carry(fields):
    with pytest.raises(WireFormatError):
        _wire.parse_content(_content(**fields))


def test_every_kind_round_trips_and_plain_text_keeps_its_version_1_bytes():
    for content in (_wire.Content("m-1", "text", "hi", 5), _wire.Content("m-1", "text", "hi", 5, "m-0"),
                    _wire.Content("m-1", "edit", "new", 5, "m-0"), _wire.Content("m-1", "delete", "", 5, "m-0"),
                    _wire.Content("m-1", "read", "", 5, None, ("a-1", "a-2")), _wire.Content("m-1", "typing", "", 5)):
        assert _wire.parse_content(_wire.content_bytes(content)) == content
    assert _wire.content_bytes(_wire.Content("m-1", "text", "hi", 5)) == \
        b'{"v":1,"id":"m-1","kind":"text","body":"hi","sentAt":5}'


@pytest.mark.parametrize("group", [
    {"id": "0" * 32, "action": "join"},                                                   # no such action
    {"id": "0" * 31, "action": "leave"},                                                  # not 32 hex
    {"id": "0" * 32, "action": "leave", "name": "x"},                                     # a field leave has not
    {"id": "0" * 32, "action": "key"},                                                    # key missing
    {"id": "0" * 32, "action": "key", "key": "AAA="},                                     # padded base64
    {"id": "0" * 32, "action": "update", "name": "a\nb", "members": [], "admin": "", "key": "AA"},
    {"id": "0" * 32, "action": "update", "name": "", "members": [], "admin": "", "key": "AA"},
    {"id": "0" * 32, "action": "invite", "name": "ok", "members": ["a" * 32, "a" * 32], "admin": "a" * 32,
     "key": "AA"},                                                                         # a member twice
    {"id": "0" * 32, "action": "invite", "name": "ok", "members": ["a" * 32], "admin": "b" * 32,
     "key": "AA"},                                                                         # admin not a member
])
def test_a_group_control_that_is_not_ours_is_refused_by_name(group):
    raw = json.dumps({"v": 1, "id": "m-1", "kind": "group", "group": group, "sentAt": 5}).encode()
    with pytest.raises(WireFormatError, match="group"):
        _wire.parse_content(raw)


def test_a_group_control_round_trips_and_hides_its_key():
    control = _wire.GroupControl("0" * 32, "invite", "Flat", ("a" * 32, "b" * 32), "a" * 32, b"secret-key")
    content = _wire.Content("m-1", "group", "", 5, group=control)
    assert _wire.parse_content(_wire.content_bytes(content)) == content
    assert "secret" not in repr(content) and "redacted" in repr(control)
    assert _wire.parse_payload(_wire.payload(b"x", "0" * 32)) == (b"x", "0" * 32)
