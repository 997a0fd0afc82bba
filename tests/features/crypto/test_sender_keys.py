"""Sender Keys: fan-out, reordering, forged senders, rotation on removal, state codec, redaction."""

from __future__ import annotations

import dataclasses

import pytest

from features.crypto import _sender_keys
from features.crypto._kdf import kdf_ck, message_keys
from features.crypto._sender_keys import GROUP_MESSAGE_KEYS_INFO, GroupSession
from features.crypto.errors import (
    DecryptionError,
    DuplicateMessageError,
    ForgedMessageError,
    MessageFormatError,
    StateFormatError,
    TooManySkippedError,
    UnknownSenderKeyError,
)

GROUP = b"group-42"


def _group(*names: str) -> dict[str, GroupSession]:
    """Each member's session, with every distribution delivered (as the pairwise sessions would)."""
    sessions = {name: GroupSession(GROUP) for name in names}
    for sender, session in sessions.items():
        for receiver, other in sessions.items():
            if receiver != sender:
                other.process_distribution(sender, session.distribution())
    return sessions


def test_every_member_reads_every_other_member() -> None:
    g = _group("alice", "bob", "carol")
    for sender in g:
        message = g[sender].encrypt(f"from {sender}".encode())
        for receiver in g:
            if receiver != sender:
                assert g[receiver].decrypt(sender, message) == f"from {sender}".encode()


def test_out_of_order_and_duplicates() -> None:
    g = _group("alice", "bob")
    messages = [g["alice"].encrypt(b"%d" % i) for i in range(6)]
    for i in (5, 0, 3, 1, 4, 2):
        assert g["bob"].decrypt("alice", messages[i]) == b"%d" % i
    for m in messages:
        with pytest.raises(DuplicateMessageError):
            g["bob"].decrypt("alice", m)


def test_a_removed_member_cannot_read_after_rotation() -> None:
    g = _group("alice", "bob", "carol")
    before = g["alice"].encrypt(b"carol may read this")
    assert g["carol"].decrypt("alice", before) == b"carol may read this"
    # carol leaves: everyone remaining forgets her and rotates, redistributing to the rest only
    for member, other in (("alice", "bob"), ("bob", "alice")):
        g[other].process_distribution(member, g[member].remove_member("carol"))
    after = g["alice"].encrypt(b"carol must not read this")
    assert g["bob"].decrypt("alice", after) == b"carol must not read this"
    with pytest.raises(UnknownSenderKeyError):
        g["carol"].decrypt("alice", after)
    # even grafting the new header onto her old chain state gets her nothing
    state = g["carol"].peers["alice"][0]
    forced = dataclasses.replace(state, chain_id=g["alice"].own.chain_id)
    g["carol"].peers["alice"] = [forced]
    with pytest.raises(ForgedMessageError):
        g["carol"].decrypt("alice", after)
    with pytest.raises(UnknownSenderKeyError):
        g["bob"].decrypt("carol", g["carol"].encrypt(b"still here?"))


def test_a_message_in_flight_during_rotation_still_opens() -> None:
    g = _group("alice", "bob")
    late = g["alice"].encrypt(b"sent before rotating")
    g["bob"].process_distribution("alice", g["alice"].rotate())
    assert g["bob"].decrypt("alice", g["alice"].encrypt(b"new chain")) == b"new chain"
    assert g["bob"].decrypt("alice", late) == b"sent before rotating"


def test_a_member_forging_another_sender_is_refused() -> None:
    """Bob knows Alice's chain key (every member does), so he can build a message with a valid
    AEAD tag under her chain; only her signature is out of his reach."""
    g = _group("alice", "bob", "carol")
    alice_chain = g["bob"].peers["alice"][0]
    header = _sender_keys._HEADER.pack(1, alice_chain.chain_id, alice_chain.iteration)
    _, mk = kdf_ck(alice_chain.chain_key)
    key, nonce = message_keys(mk, info=GROUP_MESSAGE_KEYS_INFO)
    body = _sender_keys.AESGCM(key).encrypt(nonce, b"I am alice", g["carol"]._ad(alice_chain.signing_public, header))
    forged = header + body + g["bob"].own.signing.sign(g["carol"]._signed(header, body))
    before = g["carol"].to_bytes()
    with pytest.raises(ForgedMessageError):
        g["carol"].decrypt("alice", forged)
    assert g["carol"].to_bytes() == before
    with pytest.raises(ForgedMessageError):  # relabelling bob's real message as alice's
        g["carol"].decrypt("alice", header + g["bob"].encrypt(b"hi")[len(header):])


def test_any_flipped_byte_is_refused_without_changing_state() -> None:
    g = _group("alice", "bob")
    message = g["alice"].encrypt(b"payload")
    before = g["bob"].to_bytes()
    for i in range(len(message)):
        flipped = message[:i] + bytes([message[i] ^ 0x10]) + message[i + 1:]
        with pytest.raises(DecryptionError):
            g["bob"].decrypt("alice", flipped)
        assert g["bob"].to_bytes() == before, i
    assert g["bob"].decrypt("alice", message) == b"payload"


def test_skip_bound_and_distribution_checks() -> None:
    g = _group("alice", "bob")
    g["bob"].max_skip = 3
    for _ in range(4):
        g["alice"].encrypt(b"lost")
    with pytest.raises(TooManySkippedError):
        g["bob"].decrypt("alice", g["alice"].encrypt(b"too far"))
    with pytest.raises(MessageFormatError):
        GroupSession(b"another group").process_distribution("alice", g["alice"].distribution())
    with pytest.raises(MessageFormatError):
        g["bob"].decrypt("alice", b"\x01" * 20)


def test_at_most_five_chains_per_sender_are_kept() -> None:
    g = _group("alice", "bob")
    for _ in range(7):
        g["bob"].process_distribution("alice", g["alice"].rotate())
    assert len(g["bob"].peers["alice"]) == _sender_keys.MAX_SENDER_KEY_STATES


def test_state_round_trips_deterministically() -> None:
    g = _group("alice", "bob")
    skipped = g["alice"].encrypt(b"skipped")
    g["bob"].decrypt("alice", g["alice"].encrypt(b"read"))
    for session in g.values():
        raw = session.to_bytes()
        assert GroupSession.from_bytes(raw).to_bytes() == raw
    bob = GroupSession.from_bytes(g["bob"].to_bytes())
    assert bob.decrypt("alice", skipped) == b"skipped"
    alice = GroupSession.from_bytes(g["alice"].to_bytes())
    assert bob.decrypt("alice", alice.encrypt(b"resumed")) == b"resumed"
    with pytest.raises(StateFormatError):
        GroupSession.from_bytes(b"{}")
    with pytest.raises(StateFormatError):
        GroupSession.from_bytes(b'{"v": 2}')


def test_repr_shows_no_secret() -> None:
    g = _group("alice", "bob")
    own = g["alice"].own
    text = repr(g["alice"]) + repr(g["bob"]) + repr(g["bob"].peers["alice"][0])
    for secret in (own.chain_key, own.signing.private_bytes_raw()):
        assert secret.hex()[:16] not in text and repr(secret)[2:18] not in text
