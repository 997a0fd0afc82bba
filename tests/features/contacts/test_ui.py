"""The contact list panel against a real actor: each button goes through the machine to the
service, and what the service refuses is shown."""

from __future__ import annotations

import pytest

from features.contacts.ui import ContactsPanel

pytestmark = pytest.mark.anyio


async def test_adding_picking_and_changing_a_contact_from_the_panel(people):
    alice, bob = await people("Alice", "Bob")
    panel = ContactsPanel(alice.app)
    assert panel.contacts == [] and "0 contacts" in panel.listing.value
    panel.invite.value, panel.new_name.value = bob.invite(), "<b>Bob</b>"
    panel.add()
    await alice.wait_for(lambda: len(panel.contacts) == 1)
    assert "&lt;b&gt;Bob&lt;/b&gt;" in panel.listing.value and "<b>Bob</b>" not in panel.listing.value
    assert panel.invite.value == "" and panel.open_button.disabled  # nobody picked yet
    panel.picker.value = bob.user_id
    assert not panel.open_button.disabled and "safety number" in panel.ours.value
    panel.select()
    await alice.wait_for(lambda: alice.of("CONTACT_SELECTED") == [{"user_id": bob.user_id}])
    panel.rename_text.value = "Bob"
    panel.rename()
    await alice.wait_for(lambda: panel.contacts[0]["name"] == "Bob")
    panel.toggle_block()
    await alice.wait_for(lambda: panel.contacts[0]["blocked"])
    assert panel.block_button.description == "Unblock" and "blocked" in panel.listing.value
    panel.number.value = alice.contacts.safety_number(bob.user_id)  # what Bob reads out: the same 60 digits
    panel.verify()
    await alice.wait_for(lambda: panel.contacts[0]["trust"] == "verified")
    assert "verified" in panel.listing.value
    panel.remove()  # asks first
    assert panel.remove_button.description == "Click again to remove" and len(panel.contacts) == 1
    panel.remove()
    await alice.wait_for(lambda: panel.contacts == [])
    assert "var(--jp-" in panel.listing.value


async def test_refusals_are_shown_under_the_form(people):
    alice, bob = await people("Alice", "Bob")
    panel = ContactsPanel(alice.app)
    panel.invite.value = "definitely not an invite"
    panel.add()
    await alice.wait_for(lambda: bool(alice.contacts.last_error))
    await alice.wait_for(lambda: "add:" in panel.error.value)
    assert "var(--jp-error-color1" in panel.error.value
    panel.invite.value = bob.invite()
    panel.add()
    await alice.wait_for(lambda: len(panel.contacts) == 1)
    assert panel.error.value == ""  # the next command clears the last refusal
    panel.picker.value = bob.user_id
    panel.number.value = "0" * 60
    panel.verify()
    await alice.wait_for(lambda: "verify:" in panel.error.value)
    assert "nothing was marked" in panel.error.value and panel.contacts[0]["trust"] == "pinned"


async def test_the_panel_says_when_nobody_is_logged_in(people):
    anon = await people.boot()
    panel = ContactsPanel(anon.app)
    assert "log in" in panel.listing.value and panel.add_button.disabled


def test_the_panel_needs_an_app_or_actor():
    with pytest.raises(TypeError, match="ContactsPanel needs a booted App with the contacts feature"):
        ContactsPanel(object())
