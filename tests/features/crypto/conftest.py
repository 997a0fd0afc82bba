"""Fixtures: fresh identities and a factory of connected (initiator, responder) session pairs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from features.crypto._keys import IdentityKeyPair, OneTimePreKey, PreKeyBundle, SignedPreKey
from features.crypto._ratchet import Session
from features.crypto._state import Limits
from features.crypto._x3dh import InitialHeader, initiate, respond

SessionPair = tuple[Session, Session]


def make_pair(limits: Limits | None = None, *, one_time: bool = True) -> SessionPair:
    """Alice runs X3DH on Bob's bundle; Bob answers from the encoded initial header."""
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    spk = SignedPreKey.generate(bob, 1)
    opk = OneTimePreKey.generate(9) if one_time else None
    sent = initiate(alice, PreKeyBundle.of(bob, spk, opk))
    received = respond(bob, InitialHeader.decode(sent.header.encode()), spk, opk)
    return Session.initiator(sent, limits=limits), Session.responder(received, spk, limits=limits)


@pytest.fixture
def pair_factory() -> Callable[..., SessionPair]:
    return make_pair


@pytest.fixture
def pair() -> SessionPair:
    return make_pair()
