"""Trust on first use: first seen -> pinned; another key -> changed (sending blocked) until the
user dismisses the alert (the pin stays) or accepts the key they were shown (fingerprints only
here: the contact record refuses keys that do not derive the id); the KEY_CHANGED payload holds
fingerprints only."""

from __future__ import annotations

import pytest

from chatkernel import EventSpec, Priority
from features.identity import events
from features.identity._trust import ContactTrust, KeyChange
from features.identity.errors import AcceptError, IdentityFormatError, SendingBlockedError, TrustError


@pytest.fixture
def keys(alice, bob, mallory):
    return alice.user_id, alice.public.fingerprint, mallory.public.fingerprint, bob.public.fingerprint


def test_first_seen_is_pinned_and_the_same_key_changes_nothing(keys):
    user, good, _, _ = keys
    trust = ContactTrust.first_seen(user, good)
    assert trust.status == "pinned" and trust.pinned == good.hex() and trust.pending is None
    assert trust.sending_allowed
    trust.require_sending_allowed()
    assert trust.observe(good) == (trust, None)
    assert trust.observe(good.hex()) == (trust, None)


def test_a_different_key_blocks_sending_and_announces_the_change(keys):
    user, good, evil, _ = keys
    trust, change = ContactTrust.first_seen(user, good).observe(evil)
    assert trust.status == "changed" and trust.pending == evil.hex() and trust.pinned == good.hex()
    assert change == KeyChange(user, good.hex(), evil.hex())
    assert not trust.sending_allowed
    with pytest.raises(SendingBlockedError) as info:
        trust.require_sending_allowed()
    assert (info.value.user_id, info.value.pinned, info.value.pending) == (user, good.hex(), evil.hex())
    assert trust.observe(evil) == (trust, None)  # the same pending key: no second event
    assert trust.observe(good) == (trust, None)  # the old key again: still blocked until the user decides


def test_a_second_change_replaces_the_pending_key(keys):
    user, good, evil, other = keys
    trust, _ = ContactTrust.first_seen(user, good).observe(evil)
    trust, change = trust.observe(other)
    assert trust.pending == other.hex() and change == KeyChange(user, good.hex(), other.hex())


def test_accept_repins_only_the_key_the_user_was_shown(keys):
    user, good, evil, other = keys
    trust, _ = ContactTrust.first_seen(user, good).observe(evil)
    with pytest.raises(AcceptError):
        trust.accept(other)
    accepted = trust.accept(evil)
    assert accepted == ContactTrust(user, evil.hex()) and accepted.sending_allowed
    assert accepted.observe(evil) == (accepted, None)
    assert accepted.observe(good)[1] == KeyChange(user, evil.hex(), good.hex())
    with pytest.raises(AcceptError):
        accepted.accept(evil)  # nothing pending


def test_dismiss_keeps_the_pin_and_the_same_key_alerts_again(keys):
    user, good, evil, other = keys
    pinned = ContactTrust.first_seen(user, good)
    changed, _ = pinned.observe(evil)
    with pytest.raises(AcceptError):
        changed.dismiss(other)  # not the key the user was shown
    dismissed = changed.dismiss(evil)
    assert dismissed == changed.dismiss() == pinned and dismissed.sending_allowed
    again, change = dismissed.observe(evil)
    assert again == changed and change == KeyChange(user, good.hex(), evil.hex())
    with pytest.raises(AcceptError):
        dismissed.dismiss()  # nothing pending
    verified = pinned.mark_verified(good)
    assert verified.observe(evil)[0].dismiss().status == "pinned"  # compare the numbers again to verify


def test_verification_and_its_loss_on_change(keys):
    user, good, evil, _ = keys
    trust = ContactTrust.first_seen(user, good)
    with pytest.raises(AcceptError):
        trust.mark_verified(evil)
    verified = trust.mark_verified(good)
    assert verified.status == "verified" and verified.sending_allowed
    changed, change = verified.observe(evil)
    assert changed.status == "changed" and change is not None
    with pytest.raises(AcceptError):
        changed.mark_verified(good)
    assert changed.accept(evil).status == "pinned"  # a new key starts unverified


def test_records_round_trip_and_are_checked(keys):
    user, good, evil, _ = keys
    changed, _ = ContactTrust.first_seen(user, good).observe(evil)
    assert ContactTrust.from_dict(changed.to_dict()) == changed
    for bad in ({**changed.to_dict(), "status": "pinned"}, {**changed.to_dict(), "pending": "ab"},
                {**changed.to_dict(), "user_id": "Bob"}, {**changed.to_dict(), "status": "trusted"}, []):
        with pytest.raises(IdentityFormatError):
            ContactTrust.from_dict(bad)
    with pytest.raises(IdentityFormatError):
        ContactTrust.first_seen(user, good.hex().upper())
    assert issubclass(SendingBlockedError, TrustError) and issubclass(AcceptError, TrustError)


def test_key_changed_spec_and_payload(keys):
    user, good, evil, _ = keys
    spec = events.KEY_CHANGED
    assert isinstance(spec, EventSpec) and spec.type == "KEY_CHANGED" and spec in events.EMITTED
    assert spec.priority == Priority.HIGH
    assert set(spec.fields) == {"user_id", "old_fingerprint", "new_fingerprint"}
    _, change = ContactTrust.first_seen(user, good).observe(evil)
    payload = change.payload()
    spec.check(payload)
    assert payload == {"user_id": user, "old_fingerprint": good.hex(), "new_fingerprint": evil.hex()}


def test_the_payload_carries_nothing_secret(alice, mallory):
    _, change = ContactTrust.first_seen(alice.user_id, alice.public.fingerprint).observe(mallory.public.fingerprint)
    text = repr(change.payload()) + repr(change)
    for identity in (alice, mallory):
        raw = identity.private_bytes()
        for secret in (raw[1:33], raw[33:65]):
            assert secret.hex() not in text and repr(secret) not in text
