"""Property tests (hypothesis): reordering, tampering, key/nonce uniqueness, crash safety, skip bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.crypto import _ratchet
from features.crypto._ratchet import HEADER_LEN, Session
from features.crypto._state import Limits
from features.crypto.errors import DecryptionError, DuplicateMessageError, TooManySkippedError

from .conftest import make_pair

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _three_chains() -> tuple[Session, list[bytes]]:
    """Alice writes on two chains (Bob replied in between) and Bob has seen one message of the first:
    what arrives out of order spans a DH ratchet step and both chains' skipped keys."""
    alice, bob = make_pair()
    first = [alice.encrypt(f"a{i}".encode()) for i in range(5)]
    bob.decrypt(first[0])
    alice.decrypt(bob.encrypt(b"reply"))
    second = [alice.encrypt(f"b{i}".encode()) for i in range(5)]
    return bob, first[1:] + second


@FAST
@given(order=st.permutations(range(9)))
def test_any_permutation_of_in_window_messages_decrypts_exactly_once(order: list[int]) -> None:
    bob, messages = _three_chains()
    texts = [bob.decrypt(messages[i]) for i in order]
    assert sorted(texts) == sorted([f"a{i}".encode() for i in range(1, 5)] + [f"b{i}".encode() for i in range(5)])
    assert bob.skipped_count == 0
    settled = bob.to_bytes()
    for i in order:
        with pytest.raises(DuplicateMessageError):
            bob.decrypt(messages[i])
        assert bob.to_bytes() == settled


def _flip(message: bytes, index: int, bit: int) -> bytes:
    index %= len(message)
    return message[:index] + bytes([message[index] ^ (1 << bit)]) + message[index + 1:]


@FAST
@given(index=st.integers(min_value=0), bit=st.integers(0, 7), dh_step=st.booleans())
def test_flipping_any_bit_is_refused_without_changing_state(index: int, bit: int, dh_step: bool) -> None:
    """Header (version, ratchet key, PN, N), ciphertext and tag alike; in-chain and DH-step messages."""
    alice, bob = make_pair()
    if not dh_step:
        bob.decrypt(alice.encrypt(b"open the chain"))
    message = alice.encrypt(b"the message under test")
    before = bob.to_bytes()
    with pytest.raises(DecryptionError):
        bob.decrypt(_flip(message, index, bit))
    assert bob.to_bytes() == before
    assert bob.decrypt(message) == b"the message under test"


def test_every_header_and_body_byte_is_covered() -> None:
    """Exhaustively, not just sampled: each byte position of one message, one bit flipped."""
    alice, bob = make_pair()
    bob.decrypt(alice.encrypt(b"open"))
    message = alice.encrypt(b"0123456789")
    before = bob.to_bytes()
    for index in range(len(message)):
        with pytest.raises(DecryptionError):
            bob.decrypt(_flip(message, index, index % 8))
        assert bob.to_bytes() == before, index
    assert bob.decrypt(message) == b"0123456789"


class _KeyLog:
    """Records the (key, nonce) pair of every message *encrypted*, by message bytes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.by_message: dict[bytes, tuple[bytes, bytes]] = {}
        self._last: tuple[bytes, bytes] | None = None
        real = _ratchet.message_keys

        def recording(mk: bytes, **kw: bytes) -> tuple[bytes, bytes]:
            self._last = real(mk, **kw)
            return self._last

        monkeypatch.setattr(_ratchet, "message_keys", recording)

    def encrypt(self, session: Session, plaintext: bytes) -> bytes:
        message = session.encrypt(plaintext)
        assert self._last is not None
        self.by_message[message] = self._last
        return message


def test_key_nonce_pairs_never_repeat_over_10000_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    log = _KeyLog(monkeypatch)
    alice, bob = make_pair()
    bob.decrypt(log.encrypt(alice, b"start"))
    rng = random.Random(9)
    sent = 1
    while sent < 10_000:
        sender, receiver = (alice, bob) if rng.random() < 0.5 else (bob, alice)
        batch = [log.encrypt(sender, b"m%d" % (sent + i)) for i in range(rng.randint(1, 30))]
        rng.shuffle(batch)
        for message in batch:
            receiver.decrypt(message)
        sent += len(batch)
    pairs = list(log.by_message.values())
    assert len(pairs) == sent and len(set(pairs)) == sent
    assert len({key for key, _ in pairs}) == sent


@FAST
@given(crashes=st.lists(st.sampled_from(["none", "before_commit", "after_commit"]), min_size=1, max_size=25))
def test_a_crash_between_ratchet_step_and_send_never_reuses_a_key(crashes: list[str]) -> None:
    """Model of the send path: encrypt, then commit (state ‖ outbox) in one transaction, then send.

    ``before_commit``: the process dies after encrypt; neither the state nor the message survives,
    so the message never left. ``after_commit``: it dies after the commit; recovery resends the
    outbox byte for byte. Over every schedule, each (key, nonce) protects exactly one wire message.
    """
    monkeypatch = pytest.MonkeyPatch()
    try:
        log = _KeyLog(monkeypatch)
        alice, bob = make_pair()
        store = {"state": alice.to_bytes(), "outbox": []}
        wire: list[bytes] = []
        texts: dict[bytes, bytes] = {}
        for i, crash in enumerate(crashes):
            session = Session.from_bytes(store["state"])  # every send starts from what is durable
            message = log.encrypt(session, b"message %d" % i)
            texts[message] = b"message %d" % i
            if crash == "before_commit":
                continue
            store = {"state": session.to_bytes(), "outbox": [*store["outbox"], message]}  # one transaction
            if crash == "after_commit":
                continue  # recovery below resends it
            wire += store["outbox"]
            store["outbox"] = []
        wire += store["outbox"]
        key_nonces = [log.by_message[m] for m in wire]
        assert len(set(key_nonces)) == len(wire)
        assert [bob.decrypt(m) for m in wire] == [texts[m] for m in wire]
    finally:
        monkeypatch.undo()


def test_sending_before_the_commit_is_what_would_reuse_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The negative control of the model above: if a message left before its state was durable, a
    crash would re-derive its key for another plaintext (a GCM nonce reuse). Hence commit, then send."""
    log = _KeyLog(monkeypatch)
    alice, _ = make_pair()
    durable = alice.to_bytes()
    leaked = log.encrypt(alice, b"sent, then crashed before commit")
    again = log.encrypt(Session.from_bytes(durable), b"something else")
    assert leaked != again and log.by_message[leaked] == log.by_message[again]


@FAST
@given(jump=st.integers(0, 40))
def test_the_skip_bound_is_enforced_exactly(jump: int) -> None:
    alice, bob = make_pair(Limits(max_skip=20, max_skipped_keys=1000))
    bob.decrypt(alice.encrypt(b"open"))
    for _ in range(jump):
        alice.encrypt(b"lost")
    message = alice.encrypt(b"target")
    before = bob.to_bytes()
    if jump <= 20:
        assert bob.decrypt(message) == b"target" and bob.skipped_count == jump
    else:
        with pytest.raises(TooManySkippedError):
            bob.decrypt(message)
        assert bob.to_bytes() == before


@FAST
@given(extra=st.integers(0, 30), cap=st.integers(0, 10))
def test_stored_skipped_keys_never_exceed_the_cap(extra: int, cap: int) -> None:
    alice, bob = make_pair(Limits(max_skip=100, max_skipped_keys=cap))
    for _ in range(extra):
        alice.encrypt(b"lost")
    bob.decrypt(alice.encrypt(b"target"))
    assert bob.skipped_count == min(extra, cap)
    assert len(bob.to_bytes()) < 2000 + 100 * cap


def test_header_length_constant() -> None:
    assert HEADER_LEN == 41


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["a_sends", "b_sends", "deliver", "replay"]),
                              st.integers(0, 2**16)), max_size=60))
def test_a_random_schedule_of_both_directions_with_reordering_and_replays(ops: list[tuple[str, int]]) -> None:
    """Model-based: messages in flight arrive in any order, some twice; each plaintext comes out
    exactly once, every replay is refused without changing state, and nothing is lost."""
    alice, bob = make_pair(Limits(max_skip=100, max_skipped_keys=1000))
    bob.decrypt(alice.encrypt(b"hello"))
    in_flight: list[tuple[Session, bytes, bytes]] = []
    delivered: list[tuple[Session, bytes]] = []
    counter = 0
    for op, pick in ops:
        if op in ("a_sends", "b_sends"):
            sender, receiver = (alice, bob) if op == "a_sends" else (bob, alice)
            text = b"%d" % counter
            counter += 1
            in_flight.append((receiver, sender.encrypt(text), text))
        elif op == "deliver" and in_flight:
            receiver, message, text = in_flight.pop(pick % len(in_flight))
            assert receiver.decrypt(message) == text
            delivered.append((receiver, message))
        elif op == "replay" and delivered:
            receiver, message = delivered[pick % len(delivered)]
            before = receiver.to_bytes()
            with pytest.raises(DecryptionError):  # a duplicate, or (chains older than the 5 kept) a failed tag
                receiver.decrypt(message)
            assert receiver.to_bytes() == before
    for receiver, message, text in in_flight:
        assert receiver.decrypt(message) == text
    assert alice.skipped_count == bob.skipped_count == 0
