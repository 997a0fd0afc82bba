"""The groups service over messaging's real group API, on the whole stack and a real relay:
every input checked before messaging is asked (nothing written, nothing said), members only
among contacts, and what messaging refuses passed through as it is."""

from __future__ import annotations

import pytest

from features.groups.errors import (
    AlreadyMemberError,
    BlockedMemberError,
    InvalidGroupError,
    InvalidGroupNameError,
    InvalidMembersError,
    NotAContactError,
    NotAMemberError,
    NotReadyError,
)
from features.messaging.errors import GroupPermissionError, OfflineError, UnknownGroupError

pytestmark = pytest.mark.anyio

NOBODY = "a" * 32  # a user id nobody added


async def test_create_lists_the_group_with_members_named_as_in_the_contacts(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    entry = await alice.groups.create("  Climbing  ", [carol.user_id, bob.user_id])
    assert entry["name"] == "Climbing" and entry["state"] == "active" and entry["is_admin"]
    assert [m["name"] for m in entry["members"]] == ["You", "Bob", "Carol"]
    assert entry["member_count"] == 3 and entry["admin_name"] == "You" and not entry["read_only"]
    kept = await alice.messaging.group(entry["group"])  # what messaging was asked for
    assert kept["name"] == "Climbing" and kept["admin"] == alice.user_id
    assert kept["members"] == sorted([alice.user_id, bob.user_id, carol.user_id])
    assert await alice.changes() == ["created"]
    assert await alice.heard("GROUP_CREATED") == [{"group": entry["group"], "name": "Climbing"}]
    assert [g["group"] for g in await alice.groups.list()] == [entry["group"]]
    await alice.contacts.rename(bob.user_id, "Bobby")  # names are the contact list's, as it is now
    assert [m["name"] for m in alice.groups.listed()[0]["members"]] == ["You", "Bobby", "Carol"]
    assert (await alice.groups.get(entry["group"]))["group"] == entry["group"]
    for member in (bob, carol):  # the invitations went
        assert (await member.has(entry["group"]))["admin_name"] == "Alice"
    assert await alice.heard("GROUP_CREATED") == [{"group": entry["group"], "name": "Climbing"}]  # once


NAMES = [("", "is empty"), ("   ", "is empty"), ("x" * 65, "at most 64"), ("Bo\u202eb", "control character"),
         ("a\nb", "control character"), (None, "must be a string"), (7, "must be a string")]


async def test_group_names_are_checked(people):
    alice, bob = await people("Alice", "Bob")
    for name, reason in NAMES:
        with pytest.raises(InvalidGroupNameError, match=reason):
            await alice.groups.create(name, [bob.user_id])
    assert await alice.messaging.groups() == [] and await alice.changes() == []
    group = (await alice.groups.create("Ok", [bob.user_id]))["group"]
    before = await alice.messaging.group(group)
    for name, reason in NAMES:
        with pytest.raises(InvalidGroupNameError, match=reason):
            await alice.groups.rename(group, name)
    assert await alice.messaging.group(group) == before and await alice.changes() == ["created"]


async def test_member_lists_are_checked_and_name_the_member(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    for members, reason in (("bob", "must be a list of user ids, not str"), (None, "not NoneType"),
                            ({bob.user_id}, "not set"), ([], "is empty"), ([bob.user_id, "nope"], "'nope'"),
                            ([bob.user_id, 7], "hold 7, which is not a user id"),
                            ([alice.user_id], "your own user id"), ([bob.user_id, bob.user_id], "twice")):
        with pytest.raises(InvalidMembersError, match=reason):
            await alice.groups.create("G", members)
    with pytest.raises(NotAContactError, match=f"{NOBODY} is not in your contacts") as refused:
        await alice.groups.create("G", [bob.user_id, NOBODY])
    assert refused.value.user_id == NOBODY
    await alice.contacts.block(carol.user_id)
    with pytest.raises(BlockedMemberError, match="Carol .* is blocked") as blocked:
        await alice.groups.create("G", [bob.user_id, carol.user_id])
    assert (blocked.value.user_id, blocked.value.name) == (carol.user_id, "Carol")
    assert await alice.messaging.groups() == [] and alice.groups.listed() == []
    assert await alice.changes() == [] and not await alice.heard("GROUP_CREATED")
    await people.quiet(alice, bob, carol)
    assert await bob.messaging.groups() == [] and await carol.messaging.groups() == []  # nobody was invited


async def test_a_group_holds_at_most_max_members(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol", groups={"max_members": 1})
    with pytest.raises(InvalidMembersError, match="would make 2 besides you; a group holds at most 1"):
        await alice.groups.create("G", [bob.user_id, carol.user_id])
    group = (await alice.groups.create("G", [bob.user_id]))["group"]
    with pytest.raises(InvalidMembersError, match="would make 2"):
        await alice.groups.invite(group, [carol.user_id])
    assert (await alice.messaging.group(group))["members"] == sorted([alice.user_id, bob.user_id])
    assert await alice.changes() == ["created"]


async def test_group_ids_are_checked_everywhere(people):
    alice, bob = await people("Alice", "Bob")
    for bad in ("", "group:xyz", bob.user_id, None, 42):
        for call in (alice.groups.rename(bad, "x"), alice.groups.invite(bad, [bob.user_id]),
                     alice.groups.remove(bad, bob.user_id), alice.groups.leave(bad), alice.groups.get(bad),
                     alice.groups.select(bad)):
            with pytest.raises(InvalidGroupError, match="is not a group conversation id"):
                await call
    assert await alice.messaging.groups() == [] and await alice.changes() == []
    assert not await alice.heard("GROUP_SELECTED")


async def test_rename_invite_remove_and_leave(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = (await alice.groups.create("G", [bob.user_id]))["group"]
    assert (await alice.groups.rename(group, "Club"))["name"] == "Club"
    renamed = await alice.messaging.group(group)
    await alice.groups.rename(group, " Club ")  # the same name: nothing changes, nothing is said
    assert await alice.messaging.group(group) == renamed
    assert await alice.changes() == ["created", "renamed"]
    with pytest.raises(AlreadyMemberError, match="Bob .* is in the group already"):
        await alice.groups.invite(group, [carol.user_id, bob.user_id])
    with pytest.raises(NotAContactError):
        await alice.groups.invite(group, [NOBODY])
    assert await alice.messaging.group(group) == renamed
    invited = await alice.groups.invite(group, [carol.user_id])
    assert [m["name"] for m in invited["members"]] == ["You", "Bob", "Carol"]
    for member, error, reason in ((alice.user_id, InvalidMembersError, "leave the group instead"),
                                  ("nope", InvalidMembersError, "not a user id"),
                                  (NOBODY, NotAMemberError, "is not a member")):
        with pytest.raises(error, match=reason):
            await alice.groups.remove(group, member)
    assert await alice.changes() == ["created", "renamed", "members"]
    assert [m["name"] for m in (await alice.groups.remove(group, bob.user_id))["members"]] == ["You", "Carol"]
    left = await alice.groups.leave(group)
    assert left["state"] == "left" and left["read_only"] and not left["is_admin"]
    assert await alice.heard("GROUP_UPDATED") == [{"group": group, "change": "renamed"},
                                                  {"group": group, "change": "members"},
                                                  {"group": group, "change": "members"}]
    assert await alice.heard("GROUP_LEFT") == [{"group": group}]
    assert await alice.heard("GROUP_CREATED") == [{"group": group, "name": "G"}]
    await people.quiet(alice, bob, carol)  # and the others heard it all
    assert (await bob.messaging.group(group))["state"] == "removed"
    assert (await carol.messaging.group(group))["members"] == [carol.user_id]


async def test_what_messaging_refuses_passes_through_as_it_is(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    with pytest.raises(UnknownGroupError, match="no group"):
        await alice.groups.rename("group:" + "0" * 32, "x")
    theirs = (await bob.groups.create("Bob's", [alice.user_id]))["group"]  # Bob is the admin
    await alice.has(theirs)
    with pytest.raises(GroupPermissionError, match="only the group's admin"):
        await alice.groups.rename(theirs, "Mine")
    with pytest.raises(GroupPermissionError, match="only the group's admin"):
        await alice.groups.invite(theirs, [carol.user_id])
    await alice.offline()  # no session with Carol yet, and her keys are on the relay
    with pytest.raises(OfflineError, match=carol.user_id):
        await alice.groups.create("Offline", [carol.user_id])
    assert [g["group"] for g in await alice.messaging.groups()] == [theirs]
    assert [g["group"] for g in alice.groups.listed()] == [theirs] and not await alice.heard("GROUP_CREATED")
    assert (await alice.messaging.group(theirs))["name"] == "Bob's"
    await alice.online()
    made = (await alice.groups.create("Online", [carol.user_id]))["group"]
    assert (await carol.has(made))["admin_name"] == "Alice"


async def test_what_others_do_reaches_the_list_and_is_said(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = (await bob.groups.create("Bob's", [alice.user_id, carol.user_id]))["group"]
    entry = await alice.has(group)
    assert entry["admin_name"] == "Bob" and not entry["is_admin"] and entry["member_count"] == 3
    await alice.groups.select(group)
    assert alice.groups.selected == group
    await bob.groups.remove(group, alice.user_id)
    await alice.wait_for(lambda: alice.entry(group)["state"] == "removed")
    assert alice.entry(group)["read_only"] and alice.groups.selected is None
    await people.quiet(alice, bob, carol)
    assert await alice.heard("GROUP_UPDATED") == [{"group": group, "change": "joined"}]
    assert await alice.heard("GROUP_LEFT") == [{"group": group}]
    assert await alice.heard("GROUP_SELECTED") == [{"group": group}]
    assert not await alice.heard("GROUP_CREATED")


async def test_a_member_not_in_the_contacts_is_named_by_their_id(people, relay):
    alice, bob, carol = await people("Alice", "Bob", "Carol", befriend=False)
    for one, other in ((alice, bob), (bob, alice), (bob, carol), (carol, bob)):  # Carol is a stranger to Alice
        await one.contacts.add(other.identity.invite(relay.url), other.identity.display_name)
    group = (await bob.groups.create("Bob's", [alice.user_id, carol.user_id]))["group"]
    named = {m["user_id"]: (m["name"], m["contact"]) for m in (await alice.has(group))["members"]}
    assert named[carol.user_id] == (f"User {carol.user_id[:6]}", False) and named[bob.user_id] == ("Bob", True)
    assert named[alice.user_id] == ("You", False)


async def test_nothing_works_before_the_log_in(people):
    anon = await people.boot()
    assert not anon.groups.ready and anon.actor.state == ["locked"]
    with pytest.raises(NotReadyError, match="no identity is loaded"):
        await anon.groups.create("G", [NOBODY])
    with pytest.raises(NotReadyError):
        anon.groups.listed()
