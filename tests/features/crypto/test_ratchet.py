"""Double Ratchet behaviour: conversation, wire format, refusals that leave state unchanged, state codec."""

from __future__ import annotations

import json

import pytest

from features.crypto._ratchet import HEADER_LEN, TAG_LEN, Header, Session
from features.crypto._state import Limits, RatchetState
from features.crypto.errors import (
    AuthenticationError,
    DecryptionError,
    DuplicateMessageError,
    MessageFormatError,
    SessionNotReadyError,
    StateFormatError,
    TooManySkippedError,
)


def test_a_conversation_in_both_directions(pair) -> None:
    alice, bob = pair
    for turn in range(6):
        sender, receiver = (alice, bob) if turn % 2 == 0 else (bob, alice)
        for i in range(3):
            text = f"turn {turn} message {i}".encode()
            assert receiver.decrypt(sender.encrypt(text)) == text


def test_the_wire_format(pair) -> None:
    alice, _ = pair
    message = alice.encrypt(b"hello")
    assert len(message) == HEADER_LEN + len(b"hello") + TAG_LEN == 41 + 5 + 16
    header = Header.decode(message[:HEADER_LEN])
    assert message[0] == 1 and (header.pn, header.n) == (0, 0) and header.dh == alice._state.dhs_public
    assert Header.decode(alice.encrypt(b"x")[:HEADER_LEN]).n == 1


def test_the_responder_sends_only_after_its_first_receive(pair) -> None:
    alice, bob = pair
    assert not bob.can_send
    with pytest.raises(SessionNotReadyError):
        bob.encrypt(b"too early")
    bob.decrypt(alice.encrypt(b"hi"))
    assert bob.can_send and alice.decrypt(bob.encrypt(b"now")) == b"now"


def test_a_duplicate_is_refused_without_changing_state(pair) -> None:
    alice, bob = pair
    first, second = alice.encrypt(b"1"), alice.encrypt(b"2")
    bob.decrypt(second)
    bob.decrypt(first)  # from the skipped keys
    before = bob.to_bytes()
    for replay in (first, second):
        with pytest.raises(DuplicateMessageError):
            bob.decrypt(replay)
        assert bob.to_bytes() == before


def test_a_replay_from_an_old_chain_is_a_duplicate(pair) -> None:
    alice, bob = pair
    old = alice.encrypt(b"old")
    bob.decrypt(old)
    alice.decrypt(bob.encrypt(b"turn"))
    bob.decrypt(alice.encrypt(b"new chain"))
    before = bob.to_bytes()
    with pytest.raises(DuplicateMessageError):
        bob.decrypt(old)
    assert bob.to_bytes() == before


def test_the_associated_data_binds_the_identities(pair_factory) -> None:
    alice, bob = pair_factory()
    message = alice.encrypt(b"for bob")
    bob._state.ad = bytes(128)  # the same keys under other identities
    with pytest.raises(AuthenticationError):
        bob.decrypt(message)


def test_a_message_from_another_session_is_refused(pair_factory) -> None:
    alice, _ = pair_factory()
    _, other_bob = pair_factory()
    before = other_bob.to_bytes()
    with pytest.raises(DecryptionError):
        other_bob.decrypt(alice.encrypt(b"x"))
    assert other_bob.to_bytes() == before


def test_a_message_naming_the_signed_prekey_as_ratchet_key_is_refused(pair) -> None:
    """The initiator's first DHr has no receiving chain; a forged header naming it must not crash."""
    alice, _ = pair
    forged = Header(alice._state.dhr, 0, 0).encode() + bytes(32)
    before = alice.to_bytes()
    with pytest.raises(DecryptionError):
        alice.decrypt(forged)
    assert alice.to_bytes() == before


@pytest.mark.parametrize("message", [b"", b"\x01" * (HEADER_LEN + TAG_LEN - 1), b"\x02" + b"\0" * 60])
def test_malformed_messages_are_refused(pair, message: bytes) -> None:
    _, bob = pair
    with pytest.raises(MessageFormatError):
        bob.decrypt(message)


def test_a_jump_beyond_max_skip_is_refused_without_changing_state(pair_factory) -> None:
    alice, bob = pair_factory(Limits(max_skip=10, max_skipped_keys=100))
    bob.decrypt(alice.encrypt(b"0"))
    lost = [alice.encrypt(b"lost") for _ in range(11)]
    too_far = alice.encrypt(b"12th")
    before = bob.to_bytes()
    with pytest.raises(TooManySkippedError) as info:
        bob.decrypt(too_far)
    assert (info.value.skipped, info.value.limit) == (11, 10) and bob.to_bytes() == before
    assert bob.decrypt(lost[9]) == b"lost" and bob.skipped_count == 9
    assert bob.decrypt(too_far) == b"12th"


def test_skipped_keys_per_session_are_bounded_oldest_first(pair_factory) -> None:
    alice, bob = pair_factory(Limits(max_skip=50, max_skipped_keys=5))
    skipped = [alice.encrypt(f"{i}".encode()) for i in range(8)]
    bob.decrypt(alice.encrypt(b"last"))
    assert bob.skipped_count == 5
    with pytest.raises(DuplicateMessageError):
        bob.decrypt(skipped[2])  # evicted: its key is gone for good
    assert [bob.decrypt(m) for m in skipped[3:]] == [f"{i}".encode() for i in range(3, 8)]
    assert bob.skipped_count == 0


@pytest.mark.parametrize(("max_skip", "refused"), [(5, True), (6, False)])
def test_the_skip_bound_counts_both_chains_of_a_dh_step(pair_factory, max_skip: int, refused: bool) -> None:
    """4 keys left on Alice's old chain plus 2 on her new one: 6 derivations for one message."""
    alice, bob = pair_factory(Limits(max_skip=max_skip))
    bob.decrypt(alice.encrypt(b"a0"))
    for _ in range(4):
        alice.encrypt(b"unseen on the old chain")
    alice.decrypt(bob.encrypt(b"b0"))
    new_chain = [alice.encrypt(f"c{i}".encode()) for i in range(3)]
    before = bob.to_bytes()
    if refused:
        with pytest.raises(TooManySkippedError) as info:
            bob.decrypt(new_chain[2])
        assert info.value.skipped == 6 and bob.to_bytes() == before
    else:
        assert bob.decrypt(new_chain[2]) == b"c2" and bob.skipped_count == 6


def test_state_serialization_is_deterministic_and_resumes(pair) -> None:
    alice, bob = pair
    late = alice.encrypt(b"late")
    bob.decrypt(alice.encrypt(b"on time"))
    alice.decrypt(bob.encrypt(b"reply"))
    for session in (alice, bob):
        raw = session.to_bytes()
        assert Session.from_bytes(raw).to_bytes() == raw == session.to_bytes()
        doc = json.loads(raw)
        assert doc["v"] == 1 and raw == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    alice2, bob2 = Session.from_bytes(alice.to_bytes()), Session.from_bytes(bob.to_bytes())
    assert bob2.decrypt(late) == b"late"
    assert bob2.decrypt(alice2.encrypt(b"after restore")) == b"after restore"
    assert alice2.decrypt(bob2.encrypt(b"and back")) == b"and back"


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(v=2),
    lambda d: d.pop("rk"),
    lambda d: d.update(rk="AAAA"),
    lambda d: d.update(ns=-1),
    lambda d: d.update(ns=True),
    lambda d: d.update(skipped=[["!!", 0, "AA=="]]),
])
def test_unreadable_state_is_refused(pair, mutate) -> None:
    alice, _ = pair
    doc = json.loads(alice.to_bytes())
    mutate(doc)
    with pytest.raises(StateFormatError):
        RatchetState.from_bytes(json.dumps(doc).encode())


@pytest.mark.parametrize("data", [b"not json", b"[]", b"\xff"])
def test_garbage_state_is_refused(data: bytes) -> None:
    with pytest.raises(StateFormatError):
        Session.from_bytes(data)


def test_limits_validate() -> None:
    with pytest.raises(ValueError):
        Limits(max_skip=-1)
