"""Envelopes: the X3DH header rides along until the first reply; accept creates nothing on failure."""

from __future__ import annotations

import pytest

from features.crypto._envelope import PREKEY, RATCHET, accept, kind, open_envelope, seal
from features.crypto._keys import IdentityKeyPair, OneTimePreKey, PreKeyBundle, SignedPreKey
from features.crypto._ratchet import Session
from features.crypto._x3dh import initiate
from features.crypto.errors import AuthenticationError, KeyAgreementError, MessageFormatError


@pytest.fixture
def setup():
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    spk, opk = SignedPreKey.generate(bob, 5), OneTimePreKey.generate(11)
    session = Session.initiator(initiate(alice, PreKeyBundle.of(bob, spk, opk)))
    opks = {opk.key_id: opk}
    return alice, bob, session, {spk.key_id: spk}.get, opks


def test_the_header_rides_along_until_the_first_reply(setup) -> None:
    alice, bob, a_session, spks, opks = setup
    first, second = seal(a_session, b"hello"), seal(a_session, b"again")
    assert kind(first) == kind(second) == PREKEY
    b_session, text, header = accept(bob, first, spks, lambda i: opks.pop(i, None))  # an OPK is used once
    assert text == b"hello" and header.identity == alice.public and header.one_time_prekey_id == 11
    assert open_envelope(b_session, second) == b"again"
    reply = seal(b_session, b"hi alice")
    assert kind(reply) == RATCHET and open_envelope(a_session, reply) == b"hi alice"
    assert a_session.initial_header is None and kind(seal(a_session, b"now plain")) == RATCHET
    restored = Session.from_bytes(a_session.to_bytes())
    assert restored.initial_header is None


def test_the_initial_header_survives_persistence(setup) -> None:
    _, _, a_session, _, _ = setup
    restored = Session.from_bytes(a_session.to_bytes())
    assert restored.initial_header == a_session.initial_header is not None


def test_a_replayed_prekey_envelope_finds_its_one_time_prekey_gone(setup) -> None:
    _, bob, a_session, spks, opks = setup
    first = seal(a_session, b"hello")
    accept(bob, first, spks, lambda i: opks.pop(i, None))
    with pytest.raises(KeyAgreementError):
        accept(bob, first, spks, lambda i: opks.pop(i, None))


def test_unknown_prekeys_and_tampering_create_no_session(setup) -> None:
    _, bob, a_session, spks, opks = setup
    first = seal(a_session, b"hello")
    with pytest.raises(KeyAgreementError):
        accept(bob, first, lambda _id: None, opks.get)
    tampered = first[:-1] + bytes([first[-1] ^ 1])
    with pytest.raises(AuthenticationError):
        accept(bob, tampered, spks, opks.get)
    assert 11 in opks  # the failed attempts consumed nothing
    with pytest.raises(MessageFormatError):
        kind(b"\x07" + first[1:])
