"""The groups machine on the whole stack: locked until an identity is loaded, ready with its
groups, locked again at log-out; a load that fails stays locked and says why; commands only
when ready."""

from __future__ import annotations

import pytest

from chatkernel import fire

pytestmark = pytest.mark.anyio


async def test_locked_then_ready_then_locked_at_log_out_and_ready_again(people, identities):
    anon = await people.boot()
    assert anon.actor.state == ["locked"]
    await identities.sign_up(anon.app, "Alice")
    await anon.ready()
    assert anon.groups.ready and anon.groups.listed() == []
    anon.identity.forget()
    await anon.wait_for(lambda: anon.actor.state == ["locked"])
    assert not anon.groups.ready
    await anon.logged_in_again()
    await anon.ready()
    assert anon.groups.ready


async def test_a_failed_load_stays_locked_and_says_why(people):
    alice, = await people("Alice")
    alice.identity.forget()
    await alice.wait_for(lambda: alice.actor.state == ["locked"])
    await alice.db.execute("DROP TABLE messaging_groups")  # a real fault: messaging cannot read its groups
    await alice.logged_in_again()
    await alice.wait_for(lambda: alice.groups.last_error is not None)
    assert alice.actor.state == ["locked"] and not alice.groups.ready
    assert alice.groups.last_error["operation"] == "load" and "messaging_groups" in alice.groups.last_error["reason"]


async def test_commands_run_through_the_actor_and_refusals_are_kept(people):
    alice, bob = await people("Alice", "Bob")
    fire(alice.actor, "CREATE", name="", members=[bob.user_id])
    await alice.wait_for(lambda: alice.groups.last_error is not None)
    assert alice.groups.last_error["kind"] == "InvalidGroupNameError"
    fire(alice.actor, "CREATE", name="G", members=[bob.user_id])
    await alice.wait_for(lambda: len(alice.groups.listed()) == 1)
    assert alice.groups.last_error is None  # the next command clears the last refusal
    group = alice.groups.listed()[0]["group"]
    fire(alice.actor, "RENAME", group=group, name="H")
    await alice.wait_for(lambda: alice.groups.listed()[0]["name"] == "H")
    fire(alice.actor, "SELECT", group=group)
    await alice.wait_for(lambda: alice.of("GROUP_SELECTED") == [{"group": group}])
    fire(alice.actor, "REMOVE", group=group, member=alice.user_id)
    await alice.wait_for(lambda: alice.groups.last_error is not None)
    assert alice.groups.last_error["operation"] == "remove"
    fire(alice.actor, "LEAVE", group=group)
    await alice.wait_for(lambda: alice.groups.listed()[0]["state"] == "left")
    assert alice.actor.state == ["ready"]
    assert await alice.changes() == ["created", "renamed", "left"]
    await bob.wait_for(lambda: bob.entry(group) is not None and bob.entry(group)["name"] == "H"
                       and bob.entry(group)["member_count"] == 1)
