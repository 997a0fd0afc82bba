"""The crypto service on real apps: two (or three) people, each with a SQLCipher profile in
tmp_path, the relay's key directory in memory, in one event loop."""

from __future__ import annotations

import base64
import logging

import pytest

from chatkernel.relay import protocol

from features.crypto.errors import (
    AuthenticationError,
    BadSignatureError,
    BundleError,
    CryptoError,
    DuplicateMessageError,
    IdentityRefusedError,
    NoSessionError,
    NotReadyError,
    ReplayedPrekeyError,
    UnknownSenderKeyError,
)

from .conftest import Directory, Person

pytestmark = pytest.mark.anyio


async def pair(people, directory: Directory, *, one_time: bool = True) -> tuple[Person, Person, bytes]:
    """Alice starts a session with Bob from his published bundle; Bob reads the first message."""
    alice, bob = await people("alice"), await people("bob")
    await bob.publish(directory)
    first = await alice.crypto.encrypt(bob.id, b"hello bob", bundle=directory.fetch(bob.id, one_time=one_time))
    assert await bob.crypto.decrypt(alice.id, first) == b"hello bob"
    return alice, bob, first


async def test_the_upload_body_is_exactly_post_keys(people):
    bob = await people("bob")
    body = await bob.crypto.prekey_upload()
    assert set(body) == {"userId", "signedPrekey", "oneTimePrekeys"} and body["userId"] == bob.id
    spk = body["signedPrekey"]
    assert set(spk) == {"id", "key", "sig"}
    signing, _ = bob.identity.public_keys()
    assert protocol.verify_signed_prekey(signing, spk["id"], protocol.b64url_decode(spk["key"]),
                                         protocol.b64url_decode(spk["sig"]))
    opks = body["oneTimePrekeys"]
    assert len(opks) == 100 and [o["id"] for o in opks] == list(range(1, 101))
    assert all(set(o) == {"id", "key"} and len(protocol.b64url_decode(o["key"])) == 32 for o in opks)
    assert await bob.crypto.prekey_upload() == body  # unconfirmed: a retry sends the same body
    directory = Directory()
    assert not await bob.crypto.confirm_upload(body, directory.upload(body, bob.identity))
    again = await bob.crypto.prekey_upload()
    assert again["signedPrekey"] == spk and again["oneTimePrekeys"] == []


async def test_refill_makes_new_ids_and_low_counts_are_announced(people):
    bob = await people("bob")
    directory = Directory()
    await bob.publish(directory)
    for _ in range(85):
        directory.fetch(bob.id)
    assert await bob.crypto.confirm_upload({"userId": bob.id}, directory.upload({"userId": bob.id}, bob.identity))
    await bob.settle()
    assert bob.of("PREKEYS_LOW") == [{"remaining": 15, "refill_below": 20}]
    refill = await bob.crypto.prekey_upload()
    assert [o["id"] for o in refill["oneTimePrekeys"]] == list(range(101, 186))  # never an id again
    assert not bob.crypto.note_prekey_count(50)


async def test_a_session_both_ways_survives_a_restart(people):
    directory = Directory()
    alice, bob, _ = await pair(people, directory)
    reply = await bob.crypto.encrypt(alice.id, b"hi alice")
    assert await alice.crypto.decrypt(bob.id, reply) == b"hi alice"
    await alice.reopen()
    await bob.reopen()
    for i in range(3):
        env = await alice.crypto.encrypt(bob.id, b"after restart %d" % i)
        assert env[0] == 0x01  # a ratchet envelope: the X3DH header stopped once Bob answered
        assert await bob.crypto.decrypt(alice.id, env) == b"after restart %d" % i
        back = await bob.crypto.encrypt(alice.id, b"back %d" % i)
        assert await alice.crypto.decrypt(bob.id, back) == b"back %d" % i
    await alice.settle()
    await bob.settle()
    assert alice.of("CRYPTO_SESSION_STARTED") == [{"peer": bob.id, "role": "initiator", "one_time_prekey": True}]
    assert bob.of("CRYPTO_SESSION_STARTED") == [{"peer": alice.id, "role": "responder", "one_time_prekey": True}]
    assert (await bob.crypto.refresh_counts())["sessions"] == 1


async def test_the_one_time_prekey_goes_exactly_when_the_session_commits(people):
    directory = Directory()
    alice, bob = await people("alice"), await people("bob")
    await bob.publish(directory)
    bundle = directory.fetch(bob.id)
    used = bundle["oneTimePrekey"]["id"]
    first = await alice.crypto.encrypt(bob.id, b"one", bundle=bundle)
    opk = "SELECT count(*) FROM crypto_one_time_prekeys WHERE id = ?"
    before = await bob.dump()

    async def failing(tx, plaintext):
        await tx.execute("INSERT INTO outbox (id, peer, envelope) VALUES ('m1', ?, ?)", (alice.id, plaintext))
        raise RuntimeError("the caller's write failed")

    with pytest.raises(RuntimeError):
        await bob.crypto.decrypt(alice.id, first, on_commit=failing)
    assert await bob.dump() == before and await bob.db.fetchone(opk, (used,)) == (1,)
    assert await bob.db.fetchall("SELECT * FROM outbox") == []

    async def storing(tx, plaintext):
        assert await tx.fetchone(opk, (used,)) == (0,)  # deleted inside this very transaction
        await tx.execute("INSERT INTO outbox (id, peer, envelope) VALUES ('m1', ?, ?)", (alice.id, plaintext))

    assert await bob.crypto.decrypt(alice.id, first, on_commit=storing) == b"one"
    assert await bob.db.fetchone(opk, (used,)) == (0,)
    assert await bob.db.fetchall("SELECT id, envelope FROM outbox") == [("m1", b"one")]
    assert len(await bob.db.fetchall("SELECT * FROM crypto_prekey_replay")) == 1


async def test_the_callers_row_commits_with_the_ratchet_step_or_neither_does(people):
    directory = Directory()
    alice, bob, _ = await pair(people, directory)
    async with alice.crypto.sealing(bob.id) as sealer:
        env = sealer.encrypt(b"kept")
        await sealer.tx.execute("INSERT INTO outbox (id, peer, envelope) VALUES ('a1', ?, ?)", (bob.id, env))
    assert await alice.db.fetchall("SELECT envelope FROM outbox") == [(env,)]
    state = await alice.dump()
    with pytest.raises(Exception, match="UNIQUE"):
        async with alice.crypto.sealing(bob.id) as sealer:
            lost = sealer.encrypt(b"lost")
            await sealer.tx.execute("INSERT INTO outbox (id, peer, envelope) VALUES ('a1', ?, ?)", (bob.id, lost))
    assert await alice.dump() == state  # the ratchet did not move
    assert await alice.db.fetchall("SELECT envelope FROM outbox") == [(env,)]
    with pytest.raises(Exception, match="inside its sealing"):
        sealer.encrypt(b"too late")
    assert await bob.crypto.decrypt(alice.id, env) == b"kept"


async def test_a_replayed_prekey_envelope_is_refused_even_without_a_one_time_prekey(people):
    directory = Directory()
    alice, bob, first = await pair(people, directory, one_time=False)
    assert await bob.crypto.decrypt(alice.id, await alice.crypto.encrypt(bob.id, b"second")) == b"second"
    with pytest.raises(DuplicateMessageError):  # the same session: the ratchet knows it
        await bob.crypto.decrypt(alice.id, first)
    # Alice starts over (a new bundle, no one-time prekey left): Bob's session is replaced.
    alice.identity.pins.clear()
    await alice.db.execute("DELETE FROM crypto_sessions")
    restart = await alice.crypto.encrypt(bob.id, b"new session", bundle=directory.fetch(bob.id, one_time=False))
    assert await bob.crypto.decrypt(alice.id, restart) == b"new session"
    before = await bob.dump()
    with pytest.raises(DuplicateMessageError):  # the replaced session is kept, and it knows the message
        await bob.crypto.decrypt(alice.id, first)
    assert await bob.dump() == before
    await bob.db.execute("DELETE FROM crypto_previous_sessions")  # evicted (more than previous_sessions)
    before = await bob.dump()
    with pytest.raises(ReplayedPrekeyError):  # without the guard, this would start a duplicate session
        await bob.crypto.decrypt(alice.id, first)
    assert await bob.dump() == before
    await bob.settle()
    assert bob.of("DECRYPTION_FAILED")[-1] == {"peer": alice.id, "reason": "replayed_prekey"}


async def test_a_tampered_envelope_changes_no_table(people):
    directory = Directory()
    alice, bob = await people("alice"), await people("bob")
    await bob.publish(directory)
    first = await alice.crypto.encrypt(bob.id, b"secret", bundle=directory.fetch(bob.id))
    before = await bob.dump()
    for position in (len(first) - 1, len(first) - 40, 200):
        bad = bytearray(first)
        bad[position] ^= 0x01
        with pytest.raises(Exception):
            await bob.crypto.decrypt(alice.id, bytes(bad))
        assert await bob.dump() == before
    assert bob.identity.observed == []  # a forged first message pins nothing: authenticated first
    assert await bob.crypto.decrypt(alice.id, first) == b"secret"
    assert bob.identity.observed == [alice.id]
    reply = await bob.crypto.encrypt(alice.id, b"answer")
    alice_before = await alice.dump()
    with pytest.raises(AuthenticationError):
        await alice.crypto.decrypt(bob.id, reply[:-1] + bytes([reply[-1] ^ 1]))
    assert await alice.dump() == alice_before
    await bob.settle()
    assert {"peer": alice.id, "reason": "authentication"} in bob.of("DECRYPTION_FAILED")
    with pytest.raises(NoSessionError):
        await bob.crypto.decrypt((await people("carol")).id, reply)


async def test_every_byte_of_a_later_prekey_envelope_is_checked(people):
    """Until bob answers, alice's envelopes all carry the X3DH header. Once bob's session exists
    the header no longer starts anything, but none of its bytes may be altered unnoticed either:
    the session keeps the hash of the header that started it."""
    directory = Directory()
    alice, bob = await people("alice"), await people("bob")
    await bob.publish(directory)
    first = await alice.crypto.encrypt(bob.id, b"one", bundle=directory.fetch(bob.id))
    second = await alice.crypto.encrypt(bob.id, b"two")
    assert second[0] == first[0] == 0x02 and second[1:171] == first[1:171]  # the same header
    assert await bob.crypto.decrypt(alice.id, first) == b"one"
    before = await bob.dump()
    for position in range(len(second)):
        bad = bytearray(second)
        bad[position] ^= 0x01
        with pytest.raises(CryptoError):
            await bob.crypto.decrypt(alice.id, bytes(bad))
        assert await bob.dump() == before, position
    assert await bob.crypto.decrypt(alice.id, second) == b"two"


async def test_bundles_are_checked_before_any_session(people):
    directory = Directory()
    alice, bob = await people("alice"), await people("bob")
    await bob.publish(directory)
    bundle = directory.fetch(bob.id)
    empty = await alice.dump()
    forged = {**bundle, "signedPrekey": {**bundle["signedPrekey"], "id": bundle["signedPrekey"]["id"] + 1}}
    with pytest.raises(BadSignatureError):
        await alice.crypto.encrypt(bob.id, b"x", bundle=forged)
    other = await people("mallory")
    with pytest.raises(BundleError):
        await alice.crypto.encrypt(other.id, b"x", bundle=bundle)
    swapped = {**bundle, "userId": other.id}
    with pytest.raises(BundleError):
        await alice.crypto.encrypt(other.id, b"x", bundle=swapped)
    alice.identity.force_status = "changed"
    with pytest.raises(IdentityRefusedError):
        await alice.crypto.encrypt(bob.id, b"x", bundle=bundle)
    alice.identity.force_status = None
    alice.identity.blocked.add(bob.id)
    with pytest.raises(IdentityRefusedError):
        await alice.crypto.encrypt(bob.id, b"x", bundle=bundle)
    with pytest.raises(NoSessionError):
        await alice.crypto.encrypt(other.id, b"x")
    assert await alice.dump() == empty


async def test_a_prekey_envelope_from_a_changed_identity_is_refused(people):
    directory = Directory()
    alice, bob = await people("alice"), await people("bob")
    await bob.publish(directory)
    first = await alice.crypto.encrypt(bob.id, b"x", bundle=directory.fetch(bob.id))
    bob.identity.force_status = "changed"
    before = await bob.dump()
    with pytest.raises(IdentityRefusedError):
        await bob.crypto.decrypt(alice.id, first)
    assert await bob.dump() == before
    bob.identity.force_status = None
    assert await bob.crypto.decrypt(alice.id, first) == b"x"


async def test_not_ready_without_a_database_or_an_identity(people):
    bob = await people("bob")
    bob.identity.loaded = False
    with pytest.raises(NotReadyError):
        await bob.crypto.prekey_upload()
    bob.identity.loaded = True
    await bob.db.close()
    with pytest.raises(NotReadyError):
        await bob.crypto.prekey_upload()


async def test_has_session_asks_the_database_until_it_knows_and_again_after_a_lock(people, monkeypatch):
    directory = Directory()
    alice, bob, _ = await pair(people, directory)
    carol = await people("carol")
    queries = []
    fetchone = alice.db.fetchone

    async def counted(sql, params=()):
        if sql.startswith("SELECT 1 FROM crypto_sessions WHERE peer"):
            queries.append(params)
        return await fetchone(sql, params)

    monkeypatch.setattr(alice.db, "fetchone", counted)
    assert not await alice.crypto.has_session(carol.id) and not await alice.crypto.has_session(carol.id)
    assert len(queries) == 2  # a peer without a session is asked every time: one may start meanwhile
    assert await alice.crypto.has_session(bob.id) and await alice.crypto.has_session(bob.id)
    assert len(queries) == 3  # known once seen: sessions are never deleted
    await alice.reopen()
    alice.crypto.locked()  # what the machine does at PERSISTENCE_LOCKED
    assert await alice.crypto.has_session(bob.id) and len(queries) == 4
    await alice.settle()  # the reopen's count refresh, before the profile is closed


async def group_of_three(people):
    directory = Directory()
    alice, bob, carol = await people("alice"), await people("bob"), await people("carol")
    for p in (bob, carol):
        await p.publish(directory)
    group = "family"
    dist = await alice.crypto.create_group(group, [bob.id, carol.id])
    env = await alice.crypto.encrypt(bob.id, dist, bundle=directory.fetch(bob.id))
    await bob.crypto.accept_distribution(group, alice.id, await bob.crypto.decrypt(alice.id, env))
    env = await alice.crypto.encrypt(carol.id, dist, bundle=directory.fetch(carol.id))
    async with carol.crypto.opening(alice.id, env) as opened:  # ratchet step and sender key, one commit
        await opened.accept_distribution(group)
    return alice, bob, carol, group


async def test_group_messages_and_removal(people):
    alice, bob, carol, group = await group_of_three(people)
    message = await alice.crypto.encrypt_group(group, b"dinner at 8")
    assert await bob.crypto.decrypt_group(group, alice.id, message) == b"dinner at 8"
    assert await carol.crypto.decrypt_group(group, alice.id, message) == b"dinner at 8"
    with pytest.raises(DuplicateMessageError):
        await bob.crypto.decrypt_group(group, alice.id, message)
    rotated = await alice.crypto.remove_member(group, carol.id)
    env = await alice.crypto.encrypt(bob.id, rotated)
    await bob.crypto.accept_distribution(group, alice.id, await bob.crypto.decrypt(alice.id, env))
    await bob.reopen()  # group state survives a restart too
    later = await alice.crypto.encrypt_group(group, b"without carol")
    assert await bob.crypto.decrypt_group(group, alice.id, later) == b"without carol"
    carol_before = await carol.dump()
    with pytest.raises(UnknownSenderKeyError):
        await carol.crypto.decrypt_group(group, alice.id, later)
    assert await carol.dump() == carol_before
    await carol.settle()
    assert carol.of("DECRYPTION_FAILED") == [{"peer": alice.id, "reason": "unknown_sender_key", "group": group}]
    members = await alice.db.fetchone("SELECT members FROM crypto_group_sessions WHERE group_id = ?", (group,))
    assert members == (f'["{bob.id}"]',)
    for p in (alice, bob, carol):
        assert not p.of("FEATURE_ERROR")


async def test_group_message_and_its_row_commit_together(people):
    alice, bob, _, group = await group_of_three(people)
    before = await alice.dump()

    async def failing(tx, message):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        await alice.crypto.encrypt_group(group, b"x", on_commit=failing)
    assert await alice.dump() == before


def _secrets_of(person: Person, rows: dict) -> list[bytes]:
    found = list(person.identity.private_keys())
    for private in [r[1] for r in rows["crypto_signed_prekeys"]] + [r[1] for r in rows["crypto_one_time_prekeys"]]:
        found.append(bytes(private))
    return found


def _forms(secret: bytes) -> list[bytes]:
    return [secret, secret.hex().encode(), base64.b64encode(secret), protocol.b64url_encode(secret).encode()]


async def test_nothing_secret_in_events_reprs_logs_or_the_database_file(people, caplog):
    caplog.set_level(logging.DEBUG)
    directory = Directory()
    alice, bob, carol, group = await group_of_three(people)
    plaintext = b"the launch code is 0000-PLAINTEXT-MARKER"
    env = await alice.crypto.encrypt(bob.id, plaintext)
    assert await bob.crypto.decrypt(alice.id, env) == plaintext
    bad = env[:-1] + bytes([env[-1] ^ 1])
    with pytest.raises(Exception):
        await bob.crypto.decrypt(alice.id, bad)
    g = await alice.crypto.encrypt_group(group, plaintext)
    assert await bob.crypto.decrypt_group(group, alice.id, g) == plaintext
    await bob.publish(directory)
    await bob.settle()
    rows = await bob.dump()
    session_state = bytes(rows["crypto_sessions"][0][1])
    secrets = _secrets_of(bob, rows)
    async with bob.crypto.opening(alice.id, await alice.crypto.encrypt(bob.id, b"more")) as opened:
        shown = repr(opened)
    public = " ".join([repr(bob.crypto), repr(bob.actor.snapshot()), shown, repr(bob.events),
                       repr([e.payload for e in bob.events]), caplog.text]).encode()
    for secret in secrets + [session_state[:40]]:
        for form in _forms(secret):
            assert form not in public
    assert plaintext not in public and b"PLAINTEXT-MARKER" not in public
    await bob.db.close()
    raw = b"".join(p.read_bytes() for p in bob.db.path.parent.iterdir() if p.name.startswith("chat.db"))
    assert len(raw) > 10_000
    for secret in secrets:
        for form in _forms(secret):
            assert form not in raw
    assert b"PLAINTEXT-MARKER" not in raw and b"crypto_sessions" not in raw


async def test_the_previous_signed_prekey_serves_late_initiators_then_retires(people):
    directory = Directory()
    alice, bob, carol = await people("alice"), await people("bob"), await people("carol")
    now = [1_800_000_000.0]
    bob.crypto._clock = lambda: now[0]
    await bob.publish(directory)
    late = directory.fetch(bob.id, one_time=False)  # fetched just before Bob rotates
    older = directory.fetch(bob.id, one_time=False)
    now[0] += bob.crypto.config.signed_prekey_max_age_s
    rotated = await bob.publish(directory)
    assert rotated["signedPrekey"]["id"] > late["signedPrekey"]["id"]
    first = await alice.crypto.encrypt(bob.id, b"late", bundle=late)
    assert await bob.crypto.decrypt(alice.id, first) == b"late"  # the previous one still answers
    assert len(await bob.db.fetchall("SELECT * FROM crypto_prekey_replay")) == 1
    now[0] += bob.crypto.config.signed_prekey_max_age_s
    await bob.publish(directory)  # the first signed prekey retires, and its guard rows with it
    assert await bob.db.fetchall("SELECT * FROM crypto_prekey_replay") == []
    too_late = await carol.crypto.encrypt(bob.id, b"too late", bundle=older)
    before = await bob.dump()
    with pytest.raises(Exception, match="unknown signed prekey"):
        await bob.crypto.decrypt(carol.id, too_late)
    assert await bob.dump() == before
    await bob.settle()
    assert bob.of("DECRYPTION_FAILED")[-1] == {"peer": carol.id, "reason": "unknown_prekey"}
    spks = await bob.db.fetchall("SELECT status FROM crypto_signed_prekeys ORDER BY id")
    assert spks == [("previous",), ("current",)]


async def test_a_ratchet_step_is_not_kept_when_the_receivers_write_fails(people):
    directory = Directory()
    alice, bob, _ = await pair(people, directory)
    env = await alice.crypto.encrypt(bob.id, b"second")
    before = await bob.dump()

    async def failing(tx, plaintext):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        await bob.crypto.decrypt(alice.id, env, on_commit=failing)
    assert await bob.dump() == before
    assert await bob.crypto.decrypt(alice.id, env) == b"second"  # still readable: nothing was lost


async def test_concurrent_operations_are_serialised_by_the_transactions(people):
    import asyncio

    directory = Directory()
    alice, bob = await people("alice"), await people("bob")
    await bob.publish(directory)
    first = await alice.crypto.encrypt(bob.id, b"first", bundle=directory.fetch(bob.id))
    results = await asyncio.gather(bob.crypto.decrypt(alice.id, first), bob.crypto.decrypt(alice.id, first),
                                   return_exceptions=True)
    assert sorted(map(type, results), key=str) == sorted([bytes, DuplicateMessageError], key=str)
    envs = await asyncio.gather(*(alice.crypto.encrypt(bob.id, b"m%d" % i) for i in range(5)))
    assert len(set(envs)) == 5
    assert sorted([await bob.crypto.decrypt(alice.id, e) for e in reversed(envs)]) == [b"m%d" % i for i in range(5)]
