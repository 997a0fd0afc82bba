"""Contact rows: round trip, and a damaged or edited row is refused instead of trusted."""

from __future__ import annotations

import json

import pytest

from features.identity._contact import Contact
from features.identity._record import identity_fingerprint
from features.identity._trust import ContactTrust
from features.identity.errors import AcceptError, IdentityFormatError


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
    accepted = changed.accepted()
    assert accepted.keys == evil and accepted.pending is None and Contact.from_row(accepted.to_row()) == accepted
    verified = accepted.verified()
    assert verified.trust.status == "verified" and Contact.from_row(verified.to_row()) == verified
    with pytest.raises(AcceptError):
        changed.verified()
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
