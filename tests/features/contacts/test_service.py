"""The contact list on real apps: SQLCipher profiles under tmp_path, identity pinning for real."""

from __future__ import annotations

import pytest

from features.contacts.errors import (
    ContactListFullError,
    InvalidContactNameError,
    NotReadyError,
    SafetyNumberMismatchError,
    UnknownContactError,
)
from features.identity.errors import IdentityError

pytestmark = pytest.mark.anyio


async def test_add_from_an_invite_lists_the_contact_under_the_name_given(people):
    alice, bob = await people("Alice", "Bob")
    entry = await alice.contacts.add(bob.invite(), "  Bob  ")
    assert entry["user_id"] == bob.user_id and entry["name"] == "Bob"
    assert entry["trust"] == "pinned" and entry["presence"] == "offline" and entry["unread"] == 0
    assert entry["blocked"] is False and entry["relay_url"] == "http://127.0.0.1:8765"
    assert await alice.heard("CONTACT_ADDED") == [{"user_id": bob.user_id, "name": "Bob"}]
    assert [c["user_id"] for c in alice.contacts.list()] == [bob.user_id]
    again = await alice.contacts.add(bob.invite(), "Robert")  # the same invite: unchanged, no event
    assert again["name"] == "Bob" and len(await alice.heard("CONTACT_ADDED")) == 1


async def test_the_list_survives_a_restart_in_name_order(people):
    alice, bob, carol, dave = await people("Alice", "Bob", "Carol", "Dave")
    await alice.contacts.add(dave.invite(), "dave")
    await alice.contacts.add(bob.invite(), "Bob")
    await alice.contacts.add(carol.invite())  # no name: the start of the user id
    await alice.contacts.block(bob.user_id)
    alice = await people.restart(alice)
    listed = alice.contacts.list()
    assert [c["name"] for c in listed] == sorted([f"Contact {carol.user_id[:6]}", "Bob", "dave"], key=str.casefold)
    assert {c["user_id"]: c["blocked"] for c in listed}[bob.user_id] is True


async def test_bad_invites_and_names_are_refused_and_nothing_is_written(people):
    alice, bob = await people("Alice", "Bob")
    tampered = bob.invite()
    tampered = tampered[:-3] + ("A" if tampered[-3] != "A" else "B") + tampered[-2:]
    for invite in ("", "   ", "not an invite", tampered, alice.invite(), None, 42):
        with pytest.raises(IdentityError):
            await alice.contacts.add(invite, "Bob")
    for name, reason in (("x" * 65, "at most 64"), ("Bo\u202eb", "control character"), (7, "must be a string")):
        with pytest.raises(InvalidContactNameError, match=reason):
            await alice.contacts.add(bob.invite(), name)
    assert alice.contacts.list() == [] and not await alice.heard("CONTACT_ADDED")
    assert alice.identity.contacts() == []  # identity pinned nothing either


async def test_rename_block_unblock_remove_and_select(people):
    alice, bob = await people("Alice", "Bob")
    await alice.contacts.add(bob.invite(), "Bob")
    assert (await alice.contacts.rename(bob.user_id, "Bobby"))["name"] == "Bobby"
    assert await alice.heard("CONTACT_RENAMED") == [{"user_id": bob.user_id, "name": "Bobby"}]
    with pytest.raises(InvalidContactNameError, match="is empty"):
        await alice.contacts.rename(bob.user_id, "  ")
    assert (await alice.contacts.block(bob.user_id))["blocked"] and alice.contacts.is_blocked(bob.user_id)
    await alice.contacts.block(bob.user_id)  # already blocked: no second event
    assert (await alice.contacts.unblock(bob.user_id))["blocked"] is False
    assert await alice.heard("CONTACT_BLOCKED") == [{"user_id": bob.user_id, "blocked": True},
                                          {"user_id": bob.user_id, "blocked": False}]
    alice.contacts.select(bob.user_id)
    assert await alice.heard("CONTACT_SELECTED") == [{"user_id": bob.user_id}] and alice.contacts.selected == bob.user_id
    await alice.contacts.remove(bob.user_id)
    assert alice.contacts.list() == [] and alice.contacts.selected is None
    assert await alice.heard("CONTACT_REMOVED") == [{"user_id": bob.user_id}]
    assert alice.identity.contact(bob.user_id)["status"] == "pinned"  # the pin stays with identity
    for call in (alice.contacts.rename(bob.user_id, "x"), alice.contacts.block(bob.user_id),
                 alice.contacts.remove(bob.user_id)):
        with pytest.raises(UnknownContactError):
            await call
    with pytest.raises(UnknownContactError):
        alice.contacts.select("not a user id")
    alice = await people.restart(alice)
    assert alice.contacts.list() == []  # the removal was stored


async def test_verify_compares_the_digits_and_marks_the_pin_only_when_they_match(people):
    alice, bob = await people("Alice", "Bob")
    await alice.contacts.add(bob.invite(), "Bob")
    await bob.contacts.add(alice.invite(), "Alice")
    theirs = bob.contacts.safety_number(alice.user_id)
    assert theirs == alice.contacts.safety_number(bob.user_id) and len(theirs) == 60
    wrong = theirs[:-1] + str((int(theirs[-1]) + 1) % 10)
    for number in (wrong, theirs[:-1], theirs + "0", "x" * 60, "", None):
        with pytest.raises(SafetyNumberMismatchError):
            await alice.contacts.verify(bob.user_id, number)
    assert alice.contacts.get(bob.user_id)["trust"] == "pinned" and not await alice.heard("CONTACT_VERIFIED")
    spaced = "\n".join(" ".join(theirs[i:i + 5] for i in range(r, r + 20, 5)) for r in range(0, 60, 20))
    assert (await alice.contacts.verify(bob.user_id, spaced))["trust"] == "verified"
    await alice.wait_for(lambda: bool(alice.of("CONTACT_VERIFIED")))
    assert alice.of("CONTACT_VERIFIED")[0]["user_id"] == bob.user_id


async def test_presence_follows_messages_and_unread_follows_the_chat(people):
    alice, bob = await people("Alice", "Bob", presence_window_s=0.2)
    await alice.contacts.add(bob.invite(), "Bob")
    alice.app.dispatch("SECURE_MESSAGE_RECEIVED", {"peer": bob.user_id, "id": "m1", "kind": "text", "sent_at": 1})
    await alice.wait_for(lambda: alice.contacts.get(bob.user_id)["presence"] == "online")
    await alice.wait_for(lambda: alice.of("PRESENCE_CHANGED") and alice.of("PRESENCE_CHANGED")[-1]["presence"]
                         == "offline")
    assert [e["presence"] for e in alice.of("PRESENCE_CHANGED")] == ["online", "offline"]
    assert alice.contacts.get(bob.user_id)["last_seen"] is not None
    alice.app.dispatch("UNREAD_CHANGED", {"conversation": bob.user_id, "unread": 3})
    await alice.wait_for(lambda: alice.contacts.get(bob.user_id)["unread"] == 3)
    alice.app.dispatch("SECURE_MESSAGE_RECEIVED", {"peer": "someone we do not know", "id": "m2", "kind": "text",
                                                   "sent_at": 1})
    await alice.app.settle()
    assert len(alice.contacts.list()) == 1


async def test_nothing_works_before_log_in_and_the_list_goes_at_log_out(people):
    anon = await people.boot()
    with pytest.raises(NotReadyError, match="not open"):
        anon.contacts.list()
    alice, bob = await people("Alice", "Bob")
    await alice.contacts.add(bob.invite(), "Bob")
    await alice.app.registry.mount_result("persistence").service.close()
    await alice.wait_for(lambda: alice.actor.state == ["locked"])
    with pytest.raises(NotReadyError):
        alice.contacts.list()
    with pytest.raises(NotReadyError):
        await alice.contacts.add(bob.invite())


async def test_the_list_is_bounded(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol", max_contacts=1)
    await alice.contacts.add(bob.invite(), "Bob")
    with pytest.raises(ContactListFullError, match="holds 1 contacts"):
        await alice.contacts.add(carol.invite(), "Carol")
    assert [c["name"] for c in alice.contacts.list()] == ["Bob"]
