"""Groups on the whole secure stack: three people, a real relay on loopback, real identities and
sessions. What the admin does reaches every member's list; a member who leaves is gone from the
others' lists and sees the group read-only."""

from __future__ import annotations

import pytest

from features.groups.errors import BlockedMemberError, NotAContactError

pytestmark = pytest.mark.anyio


def _names(person, group):
    return next(([m["name"] for m in g["members"]] for g in person.groups.listed() if g["group"] == group), None)


def _entry(person, group):
    return next((g for g in person.groups.listed() if g["group"] == group), None)


async def test_a_group_made_renamed_trimmed_and_left_on_every_member(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    group = (await alice.groups.create("Climbing", [bob.user_id, carol.user_id]))["group"]
    assert _names(alice, group) == ["You", "Bob", "Carol"]
    for member in (bob, carol):
        await member.wait_for(lambda m=member: _entry(m, group) is not None)
    assert _names(bob, group) == ["You", "Alice", "Carol"] and _names(carol, group) == ["You", "Alice", "Bob"]
    assert _entry(bob, group)["admin_name"] == "Alice" and not _entry(bob, group)["is_admin"]
    assert await bob.heard("GROUP_UPDATED") == [{"group": group, "change": "joined"}]
    assert await alice.heard("GROUP_CREATED") == [{"group": group, "name": "Climbing"}]

    await alice.groups.rename(group, "Climbing club")
    for member in (bob, carol):
        await member.wait_for(lambda m=member: _entry(m, group)["name"] == "Climbing club")

    await alice.groups.remove(group, bob.user_id)
    await bob.wait_for(lambda: _entry(bob, group)["state"] == "removed")
    await carol.wait_for(lambda: _names(carol, group) == ["You", "Alice"])
    assert _entry(bob, group)["read_only"] and {"group": group} in await bob.heard("GROUP_LEFT")
    assert _names(alice, group) == ["You", "Carol"]

    await carol.groups.leave(group)
    assert _entry(carol, group)["state"] == "left" and _entry(carol, group)["read_only"]
    await alice.wait_for(lambda: _names(alice, group) == ["You"])
    assert await carol.heard("GROUP_LEFT") == [{"group": group}]
    for person in (alice, bob, carol):
        assert not person.of("FEATURE_ERROR"), person.of("FEATURE_ERROR")


async def test_members_are_checked_against_the_real_contact_list(people):
    alice, bob = await people("Alice", "Bob")
    await alice.contacts.block(bob.user_id)
    with pytest.raises(BlockedMemberError, match="Bob"):
        await alice.groups.create("G", [bob.user_id])
    await alice.contacts.remove(bob.user_id)
    with pytest.raises(NotAContactError):
        await alice.groups.create("G", [bob.user_id])
    assert await alice.messaging.groups() == []


async def test_selecting_a_group_says_so_for_the_chat(people):
    alice, bob = await people("Alice", "Bob")
    group = (await alice.groups.create("Pair+", [bob.user_id]))["group"]
    await alice.groups.select(group)
    assert await alice.heard("GROUP_SELECTED") == [{"group": group}]
