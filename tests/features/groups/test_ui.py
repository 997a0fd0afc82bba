"""The groups panel on the whole stack: each button goes through the machine to the service and
messaging, and what the service (or messaging) refuses is shown, never a traceback."""

from __future__ import annotations

import pytest

from chatkernel import fire
from features.groups.ui import GroupsPanel

pytestmark = pytest.mark.anyio


async def test_making_and_changing_a_group_from_the_panel(people):
    alice, bob, carol = await people("Alice", "Bob", "Carol")
    await alice.contacts.rename(carol.user_id, "<b>Carol</b>")
    panel = GroupsPanel(alice.app)
    assert panel.groups == [] and "0 groups" in panel.listing.value and panel.open_button.disabled
    assert {v for _, v in panel.new_members.options} == {bob.user_id, carol.user_id}
    panel.new_name.value = "Climbing"
    panel.new_members.value = (bob.user_id,)
    panel.create_button.click()
    await alice.wait_for(lambda: len(panel.groups) == 1)
    assert panel.new_name.value == "" and panel.new_members.value == ()
    assert "Climbing" in panel.listing.value and "2 members" in panel.listing.value
    group = panel.groups[0]["group"]
    panel.picker.value = group
    assert not panel.open_button.disabled and not panel.rename_button.disabled and panel.admin_note.value == ""
    assert [v for _, v in panel.invite_members.options] == [carol.user_id]  # Bob is in already
    assert [v for _, v in panel.remove_member.options] == [bob.user_id]
    panel.open_button.click()
    await alice.wait_for(lambda: alice.of("GROUP_SELECTED") == [{"group": group}])
    panel.rename_text.value = "Climbing club"
    panel.rename_button.click()
    await alice.wait_for(lambda: panel.groups[0]["name"] == "Climbing club")
    panel.invite_members.value = (carol.user_id,)
    panel.invite_button.click()
    await alice.wait_for(lambda: panel.groups[0]["member_count"] == 3)
    assert "&lt;b&gt;Carol&lt;/b&gt;" in panel.details.value and "<b>Carol</b>" not in panel.details.value
    panel.remove_member.value = bob.user_id
    panel.remove_button.click()
    await alice.wait_for(lambda: panel.groups[0]["member_count"] == 2)
    panel.leave_button.click()  # asks first
    assert panel.leave_button.description == "Click again to leave" and panel.groups[0]["state"] == "active"
    panel.leave_button.click()
    await alice.wait_for(lambda: panel.groups[0]["state"] == "left")
    assert "you left it: read-only" in panel.listing.value and "read-only" in panel.picker.options[0][0]
    assert panel.leave_button.disabled and panel.rename_button.disabled and panel.invite_button.disabled
    assert not panel.open_button.disabled  # its messages stay readable
    assert "no longer in this group" in panel.admin_note.value
    assert "var(--jp-" in panel.listing.value


async def test_refusals_are_shown_under_the_form(people):
    alice, bob = await people("Alice", "Bob")
    panel = GroupsPanel(alice.app)
    panel.create_button.click()  # no name, nobody picked
    await alice.wait_for(lambda: "create:" in panel.error.value)
    assert "group name" in panel.error.value and "is empty" in panel.error.value
    assert "var(--jp-error-color1" in panel.error.value and "Traceback" not in panel.error.value
    panel.new_name.value = "G"
    panel.create_button.click()
    await alice.wait_for(lambda: "members is empty" in panel.error.value)
    await alice.contacts.block(bob.user_id)
    await alice.wait_for(lambda: panel.new_members.options == ())  # a blocked contact is not offered
    fire(panel.actor, "CREATE", name="G", members=[bob.user_id])  # as a notebook could
    await alice.wait_for(lambda: "is blocked" in panel.error.value)
    await alice.contacts.unblock(bob.user_id)
    panel.new_name.value = "G"
    await alice.wait_for(lambda: len(panel.new_members.options) == 1)
    panel.new_members.value = (bob.user_id,)
    panel.create_button.click()
    await alice.wait_for(lambda: len(panel.groups) == 1)
    assert panel.error.value == ""  # the next command clears the last refusal


async def test_only_the_admin_changes_a_group_and_the_panel_says_who_can(people):
    alice, bob = await people("Alice", "Bob")
    group = (await bob.groups.create("Bob's", [alice.user_id]))["group"]
    panel = GroupsPanel(alice.app)
    await alice.wait_for(lambda: len(panel.groups) == 1)
    panel.picker.value = group
    assert panel.rename_button.disabled and panel.invite_button.disabled and panel.remove_button.disabled
    assert "Only the admin, Bob, can rename" in panel.admin_note.value
    assert not panel.leave_button.disabled and not panel.open_button.disabled
    assert panel.remove_member.options == () and panel.invite_members.options == ()
    fire(panel.actor, "RENAME", group=group, name="Mine")  # as a notebook could: messaging refuses
    await alice.wait_for(lambda: "rename:" in panel.error.value)
    assert "only the group&#x27;s admin may change" in panel.error.value and "Traceback" not in panel.error.value
    await bob.groups.remove(group, alice.user_id)
    await alice.wait_for(lambda: panel.groups[0]["state"] == "removed")
    assert "the admin removed you: read-only" in panel.listing.value and panel.leave_button.disabled


async def test_the_panel_says_when_nobody_is_logged_in(people):
    anon = await people.boot()
    panel = GroupsPanel(anon.app)
    assert "log in" in panel.listing.value and panel.create_button.disabled and panel.new_members.options == ()


def test_the_panel_needs_an_app_or_actor():
    with pytest.raises(TypeError, match="GroupsPanel needs a booted App with the groups feature"):
        GroupsPanel(object())
