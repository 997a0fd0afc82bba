"""X3DH: agreement, signatures checked before any DH, prekey bookkeeping, header codec, redaction."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from features.crypto import _x3dh
from features.crypto._keys import (
    IdentityKeyPair,
    OneTimePreKey,
    PreKeyBundle,
    PublicIdentity,
    SignedPreKey,
    signed_prekey_message,
)
from features.crypto._ratchet import Session
from features.crypto._x3dh import InitialHeader, initiate, respond
from features.crypto.errors import (
    BadSignatureError,
    InvalidKeyError,
    KeyAgreementError,
    MessageFormatError,
)


@pytest.fixture
def parties() -> tuple[IdentityKeyPair, IdentityKeyPair, SignedPreKey, OneTimePreKey]:
    bob = IdentityKeyPair.generate()
    return IdentityKeyPair.generate(), bob, SignedPreKey.generate(bob, 7), OneTimePreKey.generate(3)


@pytest.mark.parametrize("one_time", [True, False])
def test_both_sides_derive_the_same_secret_and_associated_data(parties, one_time: bool) -> None:
    alice, bob, spk, opk = parties
    used = opk if one_time else None
    sent = initiate(alice, PreKeyBundle.of(bob, spk, used))
    got = respond(bob, InitialHeader.decode(sent.header.encode()), spk, used)
    assert sent.shared_key == got.shared_key and len(sent.shared_key) == 32
    assert sent.associated_data == got.associated_data == alice.public.keys + bob.public.keys
    assert sent.header.one_time_prekey_id == (3 if one_time else None)


def test_the_one_time_prekey_changes_the_secret(parties) -> None:
    alice, bob, spk, opk = parties
    eph = _x3dh.X25519PrivateKey.generate()
    with_opk = initiate(alice, PreKeyBundle.of(bob, spk, opk), ephemeral=eph)
    without = initiate(alice, PreKeyBundle.of(bob, spk), ephemeral=eph)
    assert with_opk.shared_key != without.shared_key


def _no_dh(monkeypatch) -> list[object]:
    calls: list[object] = []
    monkeypatch.setattr(_x3dh, "dh", lambda *a: calls.append(a) or b"\0" * 32)
    return calls


@pytest.mark.parametrize("field", ["signed_prekey_signature", "signed_prekey", "signed_prekey_id"])
def test_a_forged_signed_prekey_is_refused_before_any_dh(parties, monkeypatch, field: str) -> None:
    alice, bob, spk, opk = parties
    bundle = PreKeyBundle.of(bob, spk, opk)
    value = getattr(bundle, field)
    forged = value + 1 if isinstance(value, int) else bytes([value[0] ^ 1]) + value[1:]
    calls = _no_dh(monkeypatch)
    with pytest.raises(BadSignatureError) as info:
        initiate(alice, dataclasses.replace(bundle, **{field: forged}))
    assert info.value.what == "signed prekey" and calls == []


def test_a_signed_prekey_signed_by_another_identity_is_refused(parties, monkeypatch) -> None:
    alice, bob, _, _ = parties
    mallory_spk = SignedPreKey.generate(IdentityKeyPair.generate(), 7)
    calls = _no_dh(monkeypatch)
    with pytest.raises(BadSignatureError):
        initiate(alice, PreKeyBundle.of(bob, mallory_spk))
    assert calls == []


def test_a_swapped_identity_dh_key_is_refused(parties, monkeypatch) -> None:
    alice, bob, spk, _ = parties
    mallory = IdentityKeyPair.generate()
    identity = dataclasses.replace(bob.public, dh_key=mallory.public.dh_key)
    calls = _no_dh(monkeypatch)
    with pytest.raises(BadSignatureError) as info:
        initiate(alice, dataclasses.replace(PreKeyBundle.of(bob, spk), identity=identity))
    assert info.value.what == "identity binding" and calls == []


def test_the_responder_checks_the_initiators_binding(parties) -> None:
    alice, bob, spk, _ = parties
    header = initiate(alice, PreKeyBundle.of(bob, spk)).header
    bad = dataclasses.replace(header.identity, dh_signature=bytes(64))
    with pytest.raises(BadSignatureError):
        respond(bob, dataclasses.replace(header, identity=bad), spk)


def test_the_responder_refuses_prekeys_the_header_does_not_name(parties) -> None:
    alice, bob, spk, opk = parties
    header = initiate(alice, PreKeyBundle.of(bob, spk, opk)).header
    with pytest.raises(KeyAgreementError):
        respond(bob, header, spk)  # the header names a one-time prekey we did not pass
    with pytest.raises(KeyAgreementError):
        respond(bob, header, SignedPreKey.generate(bob, 8), opk)
    with pytest.raises(KeyAgreementError):
        respond(bob, header, spk, OneTimePreKey.generate(4))


def test_a_low_order_ephemeral_key_is_refused(parties) -> None:
    alice, bob, spk, _ = parties
    header = initiate(alice, PreKeyBundle.of(bob, spk)).header
    with pytest.raises(InvalidKeyError):
        respond(bob, dataclasses.replace(header, ephemeral_key=bytes(32)), spk)


# The u-coordinates of small order on Curve25519 (and their non-canonical encodings p-1, p, p+1),
# as listed at https://cr.yp.to/ecdh.html#validate: a DH with any of them has an all-zero result.
LOW_ORDER = ["00" * 32, "01" + "00" * 31,
             "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
             "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
             "ec" + "ff" * 30 + "7f", "ed" + "ff" * 30 + "7f", "ee" + "ff" * 30 + "7f"]


@pytest.mark.parametrize("point", LOW_ORDER)
def test_every_low_order_point_is_refused_as_a_signed_prekey(parties, point: str) -> None:
    alice, bob, _, _ = parties
    spk = bytes.fromhex(point)
    signature = bob.sign(signed_prekey_message(1, spk))  # even when validly signed
    with pytest.raises(InvalidKeyError):
        initiate(alice, PreKeyBundle(bob.public, 1, spk, signature))


def test_a_bundle_of_our_own_identity_is_refused(parties) -> None:
    alice, _, _, _ = parties
    with pytest.raises(KeyAgreementError):
        initiate(alice, PreKeyBundle.of(alice, SignedPreKey.generate(alice, 1)))


def test_initial_header_round_trips_and_refuses_garbage(parties) -> None:
    alice, bob, spk, opk = parties
    for used in (opk, None):
        header = initiate(alice, PreKeyBundle.of(bob, spk, used)).header
        raw = header.encode()
        assert len(raw) == InitialHeader.ENCODED_LEN == 170
        assert InitialHeader.decode(raw) == header
    with pytest.raises(MessageFormatError):
        InitialHeader.decode(raw[:-1])
    with pytest.raises(MessageFormatError):
        InitialHeader.decode(b"\x02" + raw[1:])
    assert PublicIdentity.decode(alice.public.encode()) == alice.public


def test_key_objects_accept_raw_bytes(parties) -> None:
    alice, bob, spk, opk = parties
    as_objects = PreKeyBundle(bob.public, 7, spk.private.public_key(), spk.signature, 3, opk.private.public_key())
    assert as_objects == PreKeyBundle.of(bob, spk, opk)
    raw = IdentityKeyPair(alice.signing.private_bytes_raw(), alice.dh.private_bytes_raw())
    assert raw.public == alice.public
    with pytest.raises(InvalidKeyError):
        IdentityKeyPair(b"short", alice.dh)


def _secrets(*keys) -> list[bytes]:
    return [k.private_bytes_raw() for k in keys]


def test_no_repr_shows_a_secret(parties) -> None:
    alice, bob, spk, opk = parties
    sent = initiate(alice, PreKeyBundle.of(bob, spk, opk))
    session = Session.initiator(sent)
    state = session._state
    secrets = _secrets(alice.signing, alice.dh, bob.signing, bob.dh, spk.private, opk.private)
    secrets += [sent.shared_key, state.rk, state.cks, state.dhs_private]
    for obj in (alice, bob, spk, opk, sent, session, state):
        text = repr(obj) + str(obj)
        for secret in secrets:
            for form in (secret.hex(), base64.b64encode(secret).decode(), repr(secret)[2:-1]):
                assert form[:16] not in text, (obj, form)
