"""Contact rows: round trip, and a damaged or edited row is refused instead of trusted."""

from __future__ import annotations

import json

import pytest

from features.identity._contact import Contact
from features.identity._record import identity_fingerprint
from features.identity._trust import ContactTrust
from features.identity.errors import AcceptError, ForgedKeyError, IdentityFormatError


def make(bob) -> Contact:
    keys = (bob.public.signing_key, bob.public.exchange_key)
    return Contact(bob.user_id, keys, "https://relay.example",
                   ContactTrust.first_seen(bob.user_id, identity_fingerprint(*keys)), "2026-12-02T16:00:00+00:00")


def test_a_row_round_trips_through_every_state(bob, mallory):
    contact = make(bob)
    assert Contact.from_row(contact.to_row()) == contact
    evil = (mallory.public.signing_key, mallory.public.exchange_key)
    changed, payload = contact.observed(evil)
    assert payload == {"user_id": bob.user_id, "old_fingerprint": contact.fingerprint,
                       "new_fingerprint": identity_fingerprint(*evil).hex()}
    assert Contact.from_row(changed.to_row()) == changed and changed.trust.status == "changed"
    assert changed.observed(evil) == (changed, None)
    assert changed.pending == evil  # the keys themselves are kept, so accepting can check them
    dismissed = changed.dismissed()
    assert dismissed == contact and Contact.from_row(dismissed.to_row()) == dismissed
    verified = dismissed.verified()
    assert verified.trust.status == "verified" and Contact.from_row(verified.to_row()) == verified
    with pytest.raises(AcceptError):
        changed.verified()
    with pytest.raises(AcceptError):
        dismissed.dismissed()  # nothing pending any more
    assert "signing" not in repr(contact) and bob.user_id in repr(contact)


def test_an_edited_row_is_refused(bob, mallory):
    row = list(make(bob).to_row())
    public = json.loads(row[1])
    swapped = {**public, "signing": json.loads(list(make(mallory).to_row())[1])["signing"]}
    for bad in ([*row[:1], json.dumps(swapped), *row[2:]],
                [*row[:1], "{not json", *row[2:]],
                [*row[:1], json.dumps({**public, "v": 2}), *row[2:]],
                [*row[:1], json.dumps({**public, "relayUrl": 5}), *row[2:]],
                [*row[:3], json.dumps({"signing": public["signing"], "exchange": public["exchange"]}), *row[4:]]):
        with pytest.raises(IdentityFormatError):
            Contact.from_row(tuple(bad))


def test_a_contact_first_seen_in_a_bundle_has_no_relay_url(bob):
    contact = make(bob)
    from dataclasses import replace

    seen = replace(contact, relay_url=None)
    assert Contact.from_row(seen.to_row()) == seen and seen.to_dict()["relayUrl"] is None


def test_keys_that_do_not_derive_the_user_id_are_never_accepted(bob, mallory):
    contact = make(bob)
    evil = (mallory.public.signing_key, mallory.public.exchange_key)
    changed, _ = contact.observed(evil)
    with pytest.raises(AcceptError):
        changed.accepted(contact.fingerprint)  # not the key the user was shown: checked first
    with pytest.raises(ForgedKeyError) as refused:
        changed.accepted(identity_fingerprint(*evil).hex())
    error = refused.value
    assert isinstance(error, AcceptError)
    assert (error.user_id, error.fingerprint, error.derived) == (bob.user_id, identity_fingerprint(*evil).hex(),
                                                                 mallory.user_id)
    assert str(error) == (
        f"the keys presented for {bob.user_id} (fingerprint {identity_fingerprint(*evil).hex()}) do not derive that "
        f"user id (they derive {mallory.user_id}), so they cannot be this contact's keys: refusing to pin them "
        "(dismiss the alert to keep the pinned key). A contact who made new keys has a new user id: add their new "
        "invite")
    with pytest.raises(AcceptError, match="show the user the current one"):
        changed.dismissed(contact.fingerprint)  # dismissing names the pending key too, when it names one
    assert changed.dismissed(identity_fingerprint(*evil).hex()) == contact


def test_the_one_legitimate_accept_replaces_a_pin_that_does_not_derive_its_id(bob, mallory):
    """A row other code wrote, pinning keys that do not derive the id: the deriving keys replace them."""
    wrong = (mallory.public.signing_key, mallory.public.exchange_key)
    right = (bob.public.signing_key, bob.public.exchange_key)
    contact = Contact(bob.user_id, wrong, None, ContactTrust.first_seen(bob.user_id, identity_fingerprint(*wrong)),
                      "2026-12-02T16:00:00+00:00")
    changed, _ = contact.observed(right)
    accepted = changed.accepted()
    assert accepted.keys == right and accepted.pending is None and accepted.trust.status == "pinned"
    assert Contact.from_row(accepted.to_row()) == accepted
