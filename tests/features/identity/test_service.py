"""The identity service on a real, encrypted profile database, driven through a booted app in
strict mode: create / load / forget across restarts, contacts pinned from invites, the
KEY_CHANGED flow (other keys for a known contact alert and block sending, are never re-pinned,
and the alert is dismissed), safety numbers on both sides, and no secret anywhere it could leak."""

from __future__ import annotations

import logging
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay.protocol import b64url_encode, derive_user_id, identity_binding_message

from features.identity import events as ev
from features.identity._record import identity_fingerprint
from features.identity.errors import (
    AcceptError,
    DisplayNameError,
    ForgedKeyError,
    IdentityExistsError,
    InviteChecksumError,
    InviteRelayURLError,
    KeyFormatError,
    NoIdentityError,
    SelfContactError,
    UnknownContactError,
    UserIdMismatchError,
)

pytestmark = pytest.mark.anyio
RELAY = "https://relay.example"


def check_specs(booted):
    """Every recorded event of the identity feature matches its spec (strict mode checked it at
    dispatch too) and came from the feature."""
    assert not booted.of("FEATURE_ERROR")
    specs = {spec.type: spec for spec in ev.EMITTED}
    for event in booted.events:
        if event.type in specs:
            specs[event.type].check(dict(event.payload))
            assert event.source == "identity" and event.priority == specs[event.type].priority


async def test_create_load_forget_round_trip_across_a_restart(boot, db_key):
    b = await boot(key=db_key)
    assert await b.service.load() is None
    await b.settle()
    assert b.actor.state == ["none"]
    user_id = await b.service.create("Alice")
    await b.settle()
    assert b.actor.state == ["ready"] and b.service.user_id == user_id and b.service.display_name == "Alice"
    assert b.of("IDENTITY_CREATED") == [{"user_id": user_id, "display_name": "Alice"}]
    public = b.service.public_record()
    await b.app.shutdown()

    again = await boot(key=db_key)
    assert again.service.user_id is None and again.actor.state == ["absent"]
    assert await again.service.load() == user_id
    await again.settle()
    assert again.actor.state == ["ready"] and again.service.display_name == "Alice"
    assert again.service.public_record() == public
    assert again.of("IDENTITY_LOADED") == [{"user_id": user_id}] and not again.of("IDENTITY_CREATED")
    assert await again.service.load() == user_id  # already loaded: same answer, nothing new said

    again.service.forget()
    await again.settle()
    assert again.actor.state == ["absent"] and again.service.user_id is None
    assert again.of("IDENTITY_FORGOTTEN") == [{"user_id": user_id}]
    for call in (again.service.public_keys, again.service.private_keys, lambda: again.service.sign(b"x"),
                 lambda: again.service.exchange(bytes(32)), lambda: again.service.invite(RELAY)):
        with pytest.raises(NoIdentityError):
            call()
    assert await again.service.load() == user_id  # the database kept it
    check_specs(again)


async def test_create_is_refused_when_the_profile_has_an_identity(boot, db_key):
    b = await boot(key=db_key)
    first = await b.service.create("Alice")
    with pytest.raises(IdentityExistsError) as loaded:
        await b.service.create("Mallory")
    assert loaded.value.user_id == first
    b.service.forget()
    with pytest.raises(IdentityExistsError) as stored:  # not loaded, but stored: still never overwritten
        await b.service.create("Mallory")
    assert stored.value.user_id == first
    assert await b.db.fetchall("SELECT user_id FROM identity_local") == [(first,)]
    assert await b.service.load() == first and b.service.display_name == "Alice"
    with pytest.raises(DisplayNameError):
        await b.service.create("\u202eevil")


async def test_locking_the_database_forgets_the_keys(boot, db_key):
    b = await boot(key=db_key)
    user_id = await b.service.create("Alice")
    await b.db.close()
    await b.settle()
    assert b.actor.state == ["absent"] and b.service.user_id is None
    assert b.of("IDENTITY_FORGOTTEN") == [{"user_id": user_id}]


async def test_load_without_an_open_database_fails_and_says_so(boot):
    b = await boot()
    with pytest.raises(Exception) as failure:
        await b.service.load()
    await b.settle()
    assert b.actor.state == ["error"]
    [said] = b.of("IDENTITY_ERROR")
    assert said["operation"] == "load" and said["kind"] == type(failure.value).__name__
    check_specs(b)


async def test_the_keys_are_used_in_place(boot, db_key):
    b = await boot(key=db_key)
    await b.service.create("Alice")
    signing, exchange = b.service.public_keys()
    Ed25519PublicKey.from_public_bytes(signing).verify(b.service.sign(b"hello"), b"hello")
    peer = X25519PrivateKey.generate()
    peer_pub = peer.public_key().public_bytes_raw()
    assert b.service.exchange(peer_pub) == peer.exchange(X25519PrivateKey.from_private_bytes(
        b.service.private_keys()[1]).public_key())
    seed, dh = b.service.private_keys()
    assert Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw() == signing
    assert X25519PrivateKey.from_private_bytes(dh).public_key().public_bytes_raw() == exchange
    with pytest.raises(KeyFormatError):
        b.service.exchange(b"short")


async def two_people(boot):
    """Alice and Bob, each on an own app and profile, each with an identity."""
    alice = await boot(key=os.urandom(32), profile="alice")
    bob = await boot(key=os.urandom(32), profile="bob")
    await alice.service.create("Alice")
    await bob.service.create("Bob")
    return alice, bob


async def test_a_contact_is_pinned_from_an_invite_once(boot):
    alice, bob = await two_people(boot)
    invite = bob.service.invite(RELAY)
    record = await alice.service.add_contact(invite, display_name="Bobby")
    await alice.settle()
    bob_id = bob.service.user_id
    signing, exchange = bob.service.public_keys()
    assert record == {"v": 1, "userId": bob_id, "signing": b64url_encode(signing),
                      "exchange": b64url_encode(exchange), "relayUrl": RELAY, "name": "Bobby",
                      "fingerprint": identity_fingerprint(signing, exchange).hex(), "status": "pinned",
                      "addedAt": record["addedAt"]}
    assert alice.of("CONTACT_PINNED") == [{"user_id": bob_id}]
    assert alice.service.sending_allowed(bob_id) and alice.service.contacts() == [record]

    assert await alice.service.add_contact(invite) == record  # idempotent: nothing new pinned or said
    await alice.settle()
    assert len(alice.of("CONTACT_PINNED")) == 1 and not alice.of("KEY_CHANGED")
    check_specs(alice)


async def test_invites_that_cannot_be_added(boot):
    alice, bob = await two_people(boot)
    with pytest.raises(SelfContactError):
        await alice.service.add_contact(alice.service.invite(RELAY))
    with pytest.raises(InviteChecksumError):
        invite = bob.service.invite(RELAY)
        await alice.service.add_contact(invite[:-1] + ("A" if invite[-1] != "A" else "B"))
    insecure = bob.service.invite("http://relay.example", allow_insecure_remote=True)
    with pytest.raises(InviteRelayURLError):
        await alice.service.add_contact(insecure)
    assert (await alice.service.add_contact(insecure, allow_insecure_remote=True))["relayUrl"] == "http://relay.example"
    assert await alice.db.fetchone("SELECT count(*) FROM identity_contacts") == (1,)
    with pytest.raises(UnknownContactError):
        alice.service.safety_number("a" * 32)
    assert alice.service.sending_allowed("a" * 32)  # never seen: no pin to contradict
    alice.service.forget()
    assert not alice.service.sending_allowed(bob.service.user_id)  # no identity: nothing can be sent


async def test_the_settings_switch_for_insecure_relays_is_followed(boot):
    from features.settings.events import SIGNALING_URL_CHANGED

    alice = await boot(key=os.urandom(32), identity_settings={"allow_insecure_remote": True})
    await alice.service.create("Alice")
    assert alice.service.invite("http://relay.example").startswith("chatkernel:invite:v1:")
    alice.app.declare(SIGNALING_URL_CHANGED)  # the settings feature's event, dispatched here by hand
    alice.app.dispatch(SIGNALING_URL_CHANGED, {"url": RELAY, "custom": False, "allow_insecure_remote": False})
    await alice.settle()
    with pytest.raises(InviteRelayURLError):
        alice.service.invite("http://relay.example")


def fake_keys():
    signing = Ed25519PrivateKey.generate()
    exchange = X25519PrivateKey.generate().public_key().public_bytes_raw()
    return signing.public_key().public_bytes_raw(), exchange


async def test_a_forged_key_for_a_known_contact_alerts_and_blocks_sending(boot):
    alice, bob = await two_people(boot)
    bob_id = bob.service.user_id
    await alice.service.add_contact(bob.service.invite(RELAY))
    pinned = alice.service.contact(bob_id)["fingerprint"]
    assert await alice.service.observe_key(bob_id, *bob.service.public_keys()) == "pinned"

    forged = fake_keys()  # keys that do not derive bob's id: someone else speaking as bob
    assert await alice.service.observe_key(bob_id, *forged) == "changed"
    await alice.settle()
    new = identity_fingerprint(*forged).hex()
    [said] = alice.of("KEY_CHANGED")
    assert said == {"user_id": bob_id, "old_fingerprint": pinned, "new_fingerprint": new}
    ev.KEY_CHANGED.check(said)
    changed = next(e for e in alice.events if e.type == "KEY_CHANGED")
    assert changed.priority.name == "HIGH" and changed.source == "identity"
    assert not alice.service.sending_allowed(bob_id) and alice.service.contact(bob_id)["status"] == "changed"
    assert alice.service.contact(bob_id)["fingerprint"] == pinned  # the pin is untouched
    assert await alice.service.observe_key(bob_id, *forged) == "changed"  # the same forged key: said once
    await alice.settle()
    assert len(alice.of("KEY_CHANGED")) == 1
    # the same invite again does not clear the alert: the user decides
    assert (await alice.service.add_contact(bob.service.invite(RELAY)))["status"] == "changed"
    check_specs(alice)


async def test_accepting_a_forged_key_is_refused_and_nothing_is_repinned(boot, profiles_dir):
    key = os.urandom(32)
    alice = await boot(key=key, profile="alice")
    bob = await boot(key=os.urandom(32), profile="bob")
    await alice.service.create("Alice")
    await bob.service.create("Bob")
    bob_id = bob.service.user_id
    await alice.service.add_contact(bob.service.invite(RELAY), display_name="Bob")
    original = alice.service.contact(bob_id)
    forged = fake_keys()
    new = identity_fingerprint(*forged).hex()
    await alice.service.observe_key(bob_id, *forged)
    changed = alice.service.contact(bob_id)
    row = await alice.db.fetchall("SELECT * FROM identity_contacts")

    with pytest.raises(AcceptError):
        await alice.service.accept_key(bob_id, fingerprint=original["fingerprint"])  # not the key shown
    with pytest.raises(ForgedKeyError) as refused:
        await alice.service.accept_key(bob_id, fingerprint=new)
    error = refused.value
    assert (error.user_id, error.fingerprint, error.derived) == (bob_id, new, derive_user_id(*forged))
    assert f"do not derive that user id (they derive {derive_user_id(*forged)})" in str(error)
    assert "cannot be this contact's keys" in str(error)
    assert "A contact who made new keys has a new user id: add their new invite" in str(error)
    with pytest.raises(ForgedKeyError):
        await alice.service.accept_key(bob_id)  # the pending one by default: the same refusal
    await alice.settle()
    assert not alice.of("KEY_ACCEPTED") and not alice.service.sending_allowed(bob_id)
    assert alice.service.contact(bob_id) == changed
    assert await alice.db.fetchall("SELECT * FROM identity_contacts") == row
    await alice.app.shutdown()

    again = await boot(key=key, profile="alice")  # what the database holds, read back
    await again.service.load()
    stored = again.service.contact(bob_id)
    assert stored == changed and not again.service.sending_allowed(bob_id)
    assert {k: stored[k] for k in ("signing", "exchange", "fingerprint", "relayUrl", "name")} == {
        k: original[k] for k in ("signing", "exchange", "fingerprint", "relayUrl", "name")}
    with pytest.raises(ForgedKeyError):
        await again.service.accept_key(bob_id)  # after a restart too: the pending keys were stored and checked
    assert again.service.contact(bob_id)["fingerprint"] == original["fingerprint"]
    check_specs(again)


async def test_dismissing_keeps_the_pin_unblocks_and_a_second_forgery_alerts_again(boot):
    key = os.urandom(32)
    alice = await boot(key=key, profile="alice")
    bob = await boot(key=os.urandom(32), profile="bob")
    await alice.service.create("Alice")
    await bob.service.create("Bob")
    bob_id = bob.service.user_id
    await alice.service.add_contact(bob.service.invite(RELAY))
    original = alice.service.contact(bob_id)
    number = alice.service.safety_number(bob_id)
    with pytest.raises(AcceptError):
        await alice.service.dismiss_key_change(bob_id)  # nothing to dismiss yet
    forged = fake_keys()
    new = identity_fingerprint(*forged).hex()
    await alice.service.observe_key(bob_id, *forged)
    with pytest.raises(AcceptError):
        await alice.service.dismiss_key_change(bob_id, fingerprint=original["fingerprint"])  # not the one shown

    await alice.service.dismiss_key_change(bob_id, fingerprint=new)
    await alice.settle()
    assert alice.service.sending_allowed(bob_id)
    assert alice.service.contact(bob_id) == original and alice.service.safety_number(bob_id) == number
    assert alice.of("KEY_CHANGE_DISMISSED") == [{"user_id": bob_id, "fingerprint": original["fingerprint"],
                                                 "dismissed_fingerprint": new}]
    assert await alice.db.fetchone("SELECT pending_keys FROM identity_contacts") == (None,)
    with pytest.raises(UnknownContactError):
        await alice.service.dismiss_key_change("a" * 32)

    assert await alice.service.observe_key(bob_id, *forged) == "changed"  # the same forgery again: a new alert
    other = fake_keys()
    assert await alice.service.observe_key(bob_id, *other) == "changed"  # and another one replaces it
    await alice.settle()
    assert [p["new_fingerprint"] for p in alice.of("KEY_CHANGED")] == [new, new, identity_fingerprint(*other).hex()]
    assert not alice.service.sending_allowed(bob_id)
    await alice.service.dismiss_key_change(bob_id)
    assert await alice.service.observe_key(bob_id, *bob.service.public_keys()) == "pinned"
    await alice.settle()
    assert len(alice.of("KEY_CHANGE_DISMISSED")) == 2 and alice.service.contact(bob_id) == original
    check_specs(alice)
    await alice.app.shutdown()

    again = await boot(key=key, profile="alice")
    await again.service.load()
    assert again.service.contact(bob_id) == original and again.service.sending_allowed(bob_id)


async def test_accept_pins_only_keys_that_derive_the_id_over_a_pin_that_does_not(boot):
    """The one case accept_key can be legitimate: a stored pin (written by other code) whose keys do
    not derive the user id, and presented keys that do."""
    from features.identity._contact import Contact
    from features.identity._trust import ContactTrust

    key = os.urandom(32)
    alice = await boot(key=key, profile="alice")
    bob = await boot(key=os.urandom(32), profile="bob")
    await alice.service.create("Alice")
    await bob.service.create("Bob")
    bob_id = bob.service.user_id
    wrong = fake_keys()
    row = Contact(bob_id, wrong, RELAY, ContactTrust.first_seen(bob_id, identity_fingerprint(*wrong)),
                  "2026-12-02T16:00:00+00:00").to_row()
    await alice.db.execute("INSERT INTO identity_contacts (user_id, public_record, trust, pending_keys, display_name, "
                           "added_at) VALUES (?, ?, ?, ?, ?, ?)", row)
    alice.service.forget()
    await alice.service.load()
    assert await alice.service.observe_key(bob_id, *bob.service.public_keys()) == "changed"
    right = identity_fingerprint(*bob.service.public_keys()).hex()
    await alice.service.accept_key(bob_id, fingerprint=right)
    await alice.settle()
    assert alice.service.contact(bob_id)["fingerprint"] == right and alice.service.sending_allowed(bob_id)
    assert alice.of("KEY_ACCEPTED") == [{"user_id": bob_id, "fingerprint": right}]
    with pytest.raises(AcceptError):
        await alice.service.accept_key(bob_id)  # nothing pending any more
    check_specs(alice)


async def test_trust_survives_a_restart(boot, profiles_dir):
    key = os.urandom(32)
    alice = await boot(key=key, profile="alice")
    bob = await boot(key=os.urandom(32), profile="bob")
    await alice.service.create("Alice")
    await bob.service.create("Bob")
    bob_id = bob.service.user_id
    await alice.service.add_contact(bob.service.invite(RELAY))
    pinned = alice.service.contact(bob_id)["fingerprint"]
    other = fake_keys()
    await alice.service.observe_key(bob_id, *other)
    before = alice.service.contact(bob_id)
    await alice.app.shutdown()

    again = await boot(key=key, profile="alice")
    await again.service.load()
    assert again.service.contact(bob_id) == before and not again.service.sending_allowed(bob_id)
    await again.service.dismiss_key_change(bob_id, fingerprint=identity_fingerprint(*other).hex())
    assert again.service.contact(bob_id)["fingerprint"] == pinned and again.service.sending_allowed(bob_id)


async def test_safety_numbers_are_equal_on_both_sides(boot):
    alice, bob = await two_people(boot)
    await alice.service.add_contact(bob.service.invite(RELAY))
    await bob.service.add_contact(alice.service.invite(RELAY))
    number = alice.service.safety_number(bob.service.user_id)
    assert number == bob.service.safety_number(alice.service.user_id)
    assert len(number) == 60 and number.isdigit()
    await alice.service.mark_verified(bob.service.user_id)
    await alice.settle()
    assert alice.service.contact(bob.service.user_id)["status"] == "verified"
    assert alice.of("CONTACT_VERIFIED") == [{"user_id": bob.service.user_id,
                                             "fingerprint": alice.service.contact_fingerprint(bob.service.user_id)}]


async def test_no_secret_reaches_an_event_a_log_a_repr_or_a_snapshot(boot, caplog):
    caplog.set_level(logging.DEBUG)
    inspected: list = []
    alice = await boot(key=os.urandom(32), profile="alice")
    bob = await boot(key=os.urandom(32), profile="bob")
    stop = alice.app.actors.inspect(inspected.append)  # what the explorer would see of every actor
    await alice.service.create("Alice")
    await bob.service.create("Bob")
    await alice.service.add_contact(bob.service.invite(RELAY))
    await alice.service.observe_key(bob.service.user_id, *fake_keys())
    with pytest.raises(ForgedKeyError):
        await alice.service.accept_key(bob.service.user_id)
    await alice.service.dismiss_key_change(bob.service.user_id)
    await alice.service.mark_verified(bob.service.user_id)
    await alice.settle()
    secret = alice.service._identity.private_bytes()
    seed, dh = alice.service.private_keys()
    needles = [secret.hex(), seed.hex(), dh.hex(), b64url_encode(seed), b64url_encode(dh), repr(seed), repr(dh),
               repr(secret)]
    haystack = "\n".join([
        "\n".join(f"{e!r} {dict(e.payload)!r}" for e in alice.events),
        caplog.text, repr(alice.service), repr(alice.service._identity), repr(alice.actor.machine),
        repr(alice.actor.snapshot()), repr(list(alice.service._contacts.values())),
        "\n".join(map(repr, inspected)),
    ])
    stop()
    assert any(r.actor == "identity" for r in inspected)
    assert alice.events and "presented another key" in caplog.text and "pinned" in caplog.text
    assert all(n not in haystack for n in needles)
    assert "private keys hidden" in repr(alice.service)
    # and the database file holds neither the private bytes nor the display name in the clear
    alice.service.forget()
    await alice.db.close()
    raw = b"".join(p.read_bytes() for p in alice.db.path.parent.iterdir() if p.is_file())
    assert seed not in raw and dh not in raw and b"Alice" not in raw


async def test_observe_key_pins_someone_new_only_with_keys_that_derive_their_id(boot):
    alice, bob = await two_people(boot)
    bob_id = bob.service.user_id
    with pytest.raises(UserIdMismatchError) as refused:
        await alice.service.observe_key(bob_id, *fake_keys())
    assert refused.value.user_id == bob_id and refused.value.derived != bob_id
    with pytest.raises(SelfContactError):
        await alice.service.observe_key(alice.service.user_id, *alice.service.public_keys())
    with pytest.raises(KeyFormatError):
        await alice.service.observe_key(bob_id, b"x" * 31, bytes(32))
    assert alice.service.contacts() == []

    assert await alice.service.observe_key(bob_id, *bob.service.public_keys()) == "pinned"  # trust on first use
    await alice.settle()
    assert alice.of("CONTACT_PINNED") == [{"user_id": bob_id}]
    seen = alice.service.contact(bob_id)
    assert seen["relayUrl"] is None and seen["name"] is None and alice.service.sending_allowed(bob_id)
    # their invite later fills in what the bundle did not say, and pins nothing new
    record = await alice.service.add_contact(bob.service.invite(RELAY), display_name="Bob")
    assert (record["relayUrl"], record["name"], record["fingerprint"]) == (RELAY, "Bob", seen["fingerprint"])
    assert len(alice.of("CONTACT_PINNED")) == 1
    check_specs(alice)


def test_binding_message_is_the_protocols():
    """The identity's binding signature is what the relay and crypto check."""
    assert identity_binding_message(bytes(32), bytes(32)).endswith(bytes(64))


async def test_the_private_bytes_are_stored_in_one_row(boot, db_key):
    b = await boot(key=db_key)
    user_id = await b.service.create("Alice")
    rows = await b.db.fetchall("SELECT id, user_id, private_key FROM identity_local")
    assert rows == [(1, user_id, b.service._identity.private_bytes())]
    assert await b.db.fetchall("SELECT owner, version FROM persistence_migrations") == [("identity", 1)]


async def test_a_load_finishing_after_a_forget_is_discarded(boot, db_key):
    import asyncio

    b = await boot(key=db_key)
    await b.service.create("Alice")
    b.service.forget()
    await b.settle()
    loading = asyncio.create_task(b.service.load())
    await asyncio.sleep(0)  # the load is waiting on the database thread
    b.service.forget()  # e.g. PERSISTENCE_LOCKED arrived meanwhile
    with pytest.raises(NoIdentityError):
        await loading
    await b.settle()
    assert b.service.user_id is None and b.actor.state == ["absent"]
