"""IdentityCard and SafetyNumberView: what they show, escaped and themed, and the verify and dismiss buttons."""

from __future__ import annotations

import os
import re

import pytest

import features.identity as identity_pkg

pytestmark = pytest.mark.anyio
RELAY = "https://relay.example"
NAME = "<b>Al&ice</b>"


def view(name, booted, *args):
    return identity_pkg.feature.ui[name]()(booted.app, *args)


async def test_the_card_shows_the_identity_and_its_invite(boot):
    b = await boot(key=os.urandom(32))
    card = view("IdentityCard", b)
    assert card.rows["Identity"] == "none loaded" and card.invite is None
    await b.service.create(NAME)
    await b.settle()
    assert card.rows == {"Name": NAME, "User id": b.service.user_id, "Fingerprint": b.service.fingerprint}
    assert "&lt;b&gt;Al&amp;ice&lt;/b&gt;" in card.info.value and NAME not in card.info.value
    assert "var(--jp-ui-font-color1" in card.info.value and "var(--jp-ui-font-color2" in card.info.value
    assert card.invite is None and "relay URL" in card.qr.value
    card.relay.value = RELAY
    assert card.invite == b.service.invite(RELAY) == card.invite_text.value
    assert card.qr.value.count("<svg") == 1 and "chatkernel-invite-qr" in card.qr.value
    card.relay.value = "http://relay.example"  # a remote plain-http relay: refused, said in words
    assert card.invite is None and card.invite_text.value == ""
    assert "plain http:// is only allowed to a loopback host" in card.qr.value
    assert "var(--jp-error-color1" in card.qr.value
    assert repr(card) == f"IdentityCard(user_id={b.service.user_id!r})"
    b.service.forget()
    await b.settle()
    assert card.rows["Identity"] == "none loaded" and card.invite_text.value == ""
    card.close()


async def test_the_safety_number_view_verifies_through_the_service(boot):
    alice = await boot(key=os.urandom(32), profile="alice")
    bob = await boot(key=os.urandom(32), profile="bob")
    await alice.service.create("Alice")
    await bob.service.create("Bob")
    bob_id = bob.service.user_id
    await alice.service.add_contact(bob.service.invite(RELAY), display_name=NAME)
    panel = view("SafetyNumberView", alice, bob_id)
    assert len(panel.groups) == 12 and all(re.fullmatch(r"[0-9]{5}", g) for g in panel.groups)
    assert "".join(panel.groups) == alice.service.safety_number(bob_id)
    assert panel.number.value.count("\n") == 2  # three rows of four groups
    assert panel.rows["Contact"] == NAME and NAME not in panel.info.value and "&lt;b&gt;" in panel.info.value
    assert panel.rows["Status"] == "pinned" and not panel.verify_button.disabled and panel.dismiss_button.disabled
    assert "var(--jp-" in panel.number.value
    panel.verify_button.click()
    await alice.settle()
    assert alice.service.contact(bob_id)["status"] == "verified"
    assert panel.rows["Status"] == "verified" and panel.verify_button.disabled
    fingerprint = alice.service.contact_fingerprint(bob_id)
    assert alice.of("CONTACT_VERIFIED") == [{"user_id": bob_id, "fingerprint": fingerprint}]
    assert repr(panel) == f"SafetyNumberView(user_id={bob_id!r}, status='verified')"
    panel.close()


async def test_a_changed_key_cannot_be_verified_from_the_view(boot):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    alice = await boot(key=os.urandom(32), profile="alice")
    bob = await boot(key=os.urandom(32), profile="bob")
    await alice.service.create("Alice")
    await bob.service.create("Bob")
    bob_id = bob.service.user_id
    await alice.service.add_contact(bob.service.invite(RELAY))
    panel = view("SafetyNumberView", alice, bob_id)
    shown = panel.groups
    await alice.service.observe_key(bob_id, Ed25519PrivateKey.generate().public_key().public_bytes_raw(),
                                    X25519PrivateKey.generate().public_key().public_bytes_raw())
    await alice.settle()
    assert panel.rows["Status"] == "changed" and panel.verify_button.disabled and "Note" in panel.rows
    assert "dismiss the alert" in panel.rows["Note"] and "add their new invite" in panel.rows["Note"]
    assert "accept" not in panel.rows["Note"]
    assert panel.groups == shown  # still the pinned key's number
    assert not panel.dismiss_button.disabled
    panel.dismiss_button.click()
    await alice.settle()
    assert alice.service.sending_allowed(bob_id) and alice.service.contact(bob_id)["status"] == "pinned"
    assert panel.rows["Status"] == "pinned" and "Note" not in panel.rows and panel.groups == shown
    assert panel.dismiss_button.disabled and not panel.verify_button.disabled
    assert [e["user_id"] for e in alice.of("KEY_CHANGE_DISMISSED")] == [bob_id]
    panel.close()


async def test_an_unknown_contact_is_shown_as_an_error(boot):
    b = await boot(key=os.urandom(32))
    await b.service.create("Alice")
    panel = view("SafetyNumberView", b, "<script>")
    assert panel.groups == [] and panel.verify_button.disabled and panel.dismiss_button.disabled
    assert "<script>" not in panel.info.value and "&lt;script&gt;" in panel.info.value
    panel.close()


def test_the_views_need_an_app_or_actor():
    with pytest.raises(TypeError, match="IdentityCard needs"):
        identity_pkg.feature.ui["IdentityCard"]()(object())
